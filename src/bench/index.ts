export type { BenchFile, BenchRow } from "./bench-results.ts";
export { renderPlot } from "./plot.ts";
export { type GroupSummary, renderMarkdown, summarize } from "./report.ts";
export { type BenchOptions, runBench } from "./run-bench.ts";
export { formatSize, parseSize } from "./sizes.ts";
export type { BenchSuite, BenchTask } from "./suite.ts";
export {
  babilongSuite,
  learningStreamSuite,
  memorySessionsSuite,
  multihopSuite,
  oolongPairsSuite,
  oolongSuite,
  SUITES,
  sniahSuite,
} from "./suites/index.ts";
export type { BenchTraces } from "./task-trace.ts";
