import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import { engineBenchmark } from "./engine.bench.ts";
import { fileContextBenchmark } from "./file-context.bench.ts";
import { runBenchmarks } from "./harness.ts";
import { hostHelpersBenchmark } from "./host-helpers.bench.ts";
import { memoryBenchmark } from "./memory.bench.ts";
import { modelClientBenchmark } from "./model-client.bench.ts";
import { pythonBenchmark } from "./python.bench.ts";
import { sandboxBenchmark } from "./sandbox.bench.ts";
import { serveBenchmark } from "./serve.bench.ts";
import { strategiesBenchmark } from "./strategies.bench.ts";
import { viewerBenchmark } from "./viewer.bench.ts";

const BENCHMARKS = [
  modelClientBenchmark,
  sandboxBenchmark,
  fileContextBenchmark,
  hostHelpersBenchmark,
  engineBenchmark,
  strategiesBenchmark,
  pythonBenchmark,
  memoryBenchmark,
  viewerBenchmark,
  serveBenchmark,
];

/**
 * `npm run bench` runs every benchmark, each in a process of its own so that one benchmark's memory does not
 * slow the next; `npm run bench -- NAME` runs the benchmarks whose name contains NAME in this process.
 */
const filter = process.argv[2];
if (filter === undefined) {
  for (const benchmark of BENCHMARKS) {
    execFileSync(process.execPath, [fileURLToPath(import.meta.url), benchmark.name], { stdio: "inherit" });
  }
} else {
  await runBenchmarks(BENCHMARKS, filter);
}
