import type { RunRequest, RunResult } from "../engine/rlm.ts";

/** One way to answer a question about a context: the RLM, or a baseline measured beside it. */
export interface Strategy {
  readonly name: string;
  /** Never rejects for model failures or limits: the result's status says how it ended. */
  run(request: RunRequest): Promise<RunResult>;
}
