import { runBenchmarks } from "./harness.ts";
import { modelClientBenchmark } from "./model-client.bench.ts";
import { sandboxBenchmark } from "./sandbox.bench.ts";

/** `npm run bench [-- name-filter]` */
await runBenchmarks([modelClientBenchmark, sandboxBenchmark], process.argv[2]);
