export { Bm25Index, terms } from "./bm25.ts";
export { createDirectStrategy } from "./direct.ts";
export { createMapReduceStrategy, type MapReduceOptions } from "./mapreduce.ts";
export { createMemAgentStrategy, type MemAgentOptions } from "./memagent.ts";
export { createRagStrategy, type RagOptions } from "./rag.ts";
export { resolveStrategy, STRATEGY_NAMES } from "./resolve-strategy.ts";
export type { Strategy } from "./strategy.ts";
export { runStrategy, type StrategyOptions, StrategySession, StrategyStopped } from "./strategy-session.ts";
