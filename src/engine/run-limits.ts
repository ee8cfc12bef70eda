/** Hard limits of one run; a child run shares its parent's budget, so it gets only what is left. */
export interface RunLimits {
  /** Root model turns (default 30). */
  maxIterations?: number;
  /** Sub-calls in the whole run tree: llm_query and rlm_query, each item of a batch counted (default none). */
  maxSubcalls?: number;
  /** 1 (default): sub-calls are plain models; 2 and more enable rlm_query children. */
  maxDepth?: number;
  /** Input plus output tokens over all calls (default none). */
  maxTokens?: number;
  /** Spend in USD over all calls (default none). Calls of unknown price are not counted. */
  maxCostUsd?: number;
  /** Wall time of the whole run in ms (default none). */
  timeoutMs?: number;
  /** Sub-calls in flight at once across the run tree (default 16). */
  concurrency?: number;
}

export const DEFAULT_RUN_LIMITS: Required<Pick<RunLimits, "maxIterations" | "maxDepth" | "concurrency">> = {
  maxIterations: 30,
  maxDepth: 1,
  concurrency: 16,
};
