import { UsageError } from "../errors/usage-error.ts";
import type { SandboxLimits } from "../spec/sandbox.ts";

/** Hard limits of one run; a child run shares its parent's budget, so it gets only what is left. */
export interface RunLimits {
  /** Root model turns (default 30). */
  maxIterations?: number;
  /** Sub-calls in the whole run tree: llm_query and rlm_query, each item of a batch counted (default none). */
  maxSubcalls?: number;
  /** 1 (default): sub-calls are plain models; 2 and more enable rlm_query children. */
  maxDepth?: number;
  /**
   * Input plus output tokens over all calls (default none). Held with calls in flight: each call reserves its
   * prompt and an output cap before it is sent.
   */
  maxTokens?: number;
  /** Spend in USD over all calls (default none). Every model of the run needs a known price. */
  maxCostUsd?: number;
  /** Wall time of the whole run in ms (default none). */
  timeoutMs?: number;
  /** Sub-calls in flight at once across the run tree (default 16); user tool calls get as many slots of their own. */
  concurrency?: number;
  /** Calls of the user's tools (`tools`, `subTools`) over the run tree (default 1,000); past it a call is an error. */
  maxToolCalls?: number;
  /** Stop a run after this many cells in a row that raise an error (default none). */
  maxErrors?: number;
}

export const DEFAULT_RUN_LIMITS: Required<Pick<RunLimits, "maxIterations" | "maxDepth" | "concurrency">> = {
  maxIterations: 30,
  maxDepth: 1,
  concurrency: 16,
};

/** The longest delay a Node timer takes (about 24.8 days); longer time limits would overflow. */
export const MAX_TIMER_MS = 2_147_483_647;

interface Bound {
  integer: boolean;
  min: number;
  max: number;
}

const RUN_BOUNDS: Record<keyof RunLimits, Bound> = {
  maxIterations: { integer: true, min: 1, max: 100_000 },
  maxSubcalls: { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER },
  maxDepth: { integer: true, min: 1, max: 16 },
  maxTokens: { integer: true, min: 1, max: Number.MAX_SAFE_INTEGER },
  maxCostUsd: { integer: false, min: Number.MIN_VALUE, max: 1e9 },
  timeoutMs: { integer: false, min: 1, max: MAX_TIMER_MS },
  concurrency: { integer: true, min: 1, max: 1_024 },
  maxToolCalls: { integer: true, min: 0, max: Number.MAX_SAFE_INTEGER },
  maxErrors: { integer: true, min: 1, max: 100_000 },
};

const SANDBOX_BOUNDS: Record<keyof SandboxLimits, Bound> = {
  cellTimeoutMs: { integer: false, min: 1, max: MAX_TIMER_MS },
  cellWallTimeoutMs: { integer: false, min: 1, max: MAX_TIMER_MS },
  memoryLimitMb: { integer: true, min: 16, max: 1_048_576 },
  outputLimitChars: { integer: true, min: 2, max: 100_000_000 },
};

/** How a field is named to the user: `limits.maxTokens` in the library, `--max-tokens` on the command line. */
export type LimitLabel = (field: string) => string;

function check(group: string, values: object | undefined, bounds: Record<string, Bound>, label: LimitLabel) {
  if (values === undefined || values === null) return;
  if (typeof values !== "object") throw new UsageError({ message: `${group} must be an object of limits.` });
  for (const [field, value] of Object.entries(values)) {
    if (value === undefined) continue;
    // Own names only: `__proto__` or `constructor` are not limits (and must not find Object.prototype's).
    const bound = Object.hasOwn(bounds, field) ? bounds[field] : undefined;
    if (bound === undefined) {
      throw new UsageError({
        message: `${label(field)} is not a limit; the limits are ${Object.keys(bounds).join(", ")}.`,
      });
    }
    const ok =
      typeof value === "number" &&
      Number.isFinite(value) &&
      (!bound.integer || Number.isInteger(value)) &&
      value >= bound.min &&
      value <= bound.max;
    if (!ok) {
      const kind = bound.integer ? "a whole number" : "a number";
      const range =
        bound.min === Number.MIN_VALUE
          ? `above 0 and at most ${bound.max}`
          : `from ${bound.min} to ${bound.max}`;
      throw new UsageError({ message: `${label(field)} must be ${kind} ${range}, got ${String(value)}.` });
    }
  }
}

/**
 * The one place limits are checked, for the library and the CLI alike: every field a finite number in its range
 * (time limits no longer than a Node timer can wait), unknown fields refused. Throws a UsageError naming the field.
 */
export function validateLimits(
  limits: { run?: RunLimits; sandbox?: SandboxLimits },
  label: LimitLabel = (field) => `limits.${field}`,
  sandboxLabel: LimitLabel = (field) => `sandboxLimits.${field}`,
): void {
  check("limits", limits.run, RUN_BOUNDS, label);
  check("sandboxLimits", limits.sandbox, SANDBOX_BOUNDS, sandboxLabel);
}
