import { engineBenchmark } from "./engine.bench.ts";
import { fileContextBenchmark } from "./file-context.bench.ts";
import { runBenchmarks } from "./harness.ts";
import { modelClientBenchmark } from "./model-client.bench.ts";
import { pythonBenchmark } from "./python.bench.ts";
import { sandboxBenchmark } from "./sandbox.bench.ts";
import { strategiesBenchmark } from "./strategies.bench.ts";

/** `npm run bench [-- name-filter]` */
await runBenchmarks(
  [
    modelClientBenchmark,
    sandboxBenchmark,
    fileContextBenchmark,
    engineBenchmark,
    strategiesBenchmark,
    pythonBenchmark,
  ],
  process.argv[2],
);
