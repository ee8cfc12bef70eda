import { closeSync, mkdtempSync, openSync, rmSync, writeSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { bindContext } from "../src/context/context-bindings.ts";
import { FileText } from "../src/context/file-text.ts";
import { createIsolatedVmSandbox } from "../src/sandboxes/isolated-vm/isolated-vm-sandbox.ts";
import type { Benchmark } from "./harness.ts";

const FILE_MB = 640;

/** Writes a log file larger than V8's longest string, with one needle at 80%. */
function writeLargeFile(path: string): number {
  const line = "2024-05-01T12:00:00Z INFO service=api request served status=200 latency_ms=12 user=alice\n";
  const block = Buffer.from(line.repeat(Math.floor((8 * 1024 * 1024) / line.length)));
  const blocks = Math.ceil((FILE_MB * 1024 * 1024) / block.length);
  const fd = openSync(path, "w");
  for (let index = 0; index < blocks; index++) {
    writeSync(fd, block);
    if (index === Math.floor(blocks * 0.8)) writeSync(fd, "NEEDLE id=7781234\n");
  }
  closeSync(fd);
  return blocks * block.length;
}

/** A file beyond V8's string limit (~512 MB) as the context: grep streams it, memory stays flat. */
export const fileContextBenchmark: Benchmark = {
  name: "file-context",
  async run() {
    const directory = mkdtempSync(join(tmpdir(), "rlmkit-bench-"));
    try {
      const path = join(directory, "large.log");
      const bytes = writeLargeFile(path);
      const rssBefore = process.memoryUsage().rss;
      const file = new FileText(path);
      const session = await createIsolatedVmSandbox().create(bindContext(file));
      let peak = rssBefore;
      const sampler = setInterval(() => {
        peak = Math.max(peak, process.memoryUsage().rss);
      }, 5);
      const started = performance.now();
      const result = await session.execute(
        "const hit = grep('NEEDLE id=(\\\\d+)')[0]\nhit.match + ' ' + context.slice(hit.offset, hit.offset + 6)",
      );
      const elapsed = performance.now() - started;
      clearInterval(sampler);
      if (result.output.trim() !== "NEEDLE id=7781234 NEEDLE")
        throw new Error(`unexpected: ${result.output}`);
      session.dispose();
      file.close();
      return [
        { name: `grep a ${FILE_MB} MiB file context from the REPL`, value: elapsed, unit: "ms" },
        { name: "file size / V8 string limit", value: bytes / 536870888, unit: "x" },
        {
          name: "host memory added at peak (peak RSS - RSS before)",
          value: (peak - rssBefore) / 2 ** 20,
          unit: "MiB",
          goal: "flat: about 10 blocks of 16 MiB, whatever the file size",
        },
      ];
    } finally {
      rmSync(directory, { recursive: true, force: true });
    }
  },
};
