import { runBenchmarks } from "./harness.ts";
import { modelClientBenchmark } from "./model-client.bench.ts";

/** `npm run bench [-- name-filter]` */
await runBenchmarks([modelClientBenchmark], process.argv[2]);
