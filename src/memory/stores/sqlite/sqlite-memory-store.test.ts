import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describeMemoryStoreConformance } from "../../../../test/memory-store-conformance.ts";
import { openMemoryStore } from "../../open-memory-store.ts";

describeMemoryStoreConformance("sqlite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rlm-memory-"));
  const location = join(dir, "memory.db");
  return {
    location,
    open: () => openMemoryStore(location),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});
