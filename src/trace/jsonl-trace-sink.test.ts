import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeTraceSinkConformance } from "../../test/trace-sink-conformance.ts";
import { createJsonlTraceWriter } from "./jsonl-trace.ts";

describeTraceSinkConformance("jsonl", async () => {
  const folder = mkdtempSync(join(tmpdir(), "rlmkit-jsonl-sink-"));
  const path = join(folder, "run.jsonl");
  return {
    open: ({ secrets }) => createJsonlTraceWriter(path, secrets),
    // Every write to /dev/full fails with ENOSPC: a full disk.
    openFailing: () => createJsonlTraceWriter("/dev/full", []),
    received: async () => readFileSync(path, "utf8"),
    dispose: async () => rmSync(folder, { recursive: true, force: true }),
  };
});
