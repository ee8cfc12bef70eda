/**
 * What the routes of `rlm serve` share: the configuration, the executor, the run slots, the job queue and the
 * key limits; and the steps every run-starting request takes before any model call (admission under the key's
 * limits, the key's cost cap written into the run's limits).
 */
import type { Context } from "hono";
import { RlmError } from "../errors/rlm-error.ts";
import { redactSecrets } from "../models/redact-secrets.ts";
import type { JobExecutor, JobQueue } from "../spec/job-queue.ts";
import { ApiError, badRequest } from "./api-error.ts";
import type { KeyEntry } from "./api-keys.ts";
import type { Admission, KeyLimiter } from "./key-limits.ts";
import type { BodyHold, OpenStreams } from "./request-budgets.ts";
import type { RunSlots } from "./run-slots.ts";
import { type RunSpec, type ServeConfig, unpricedModel } from "./run-spec.ts";

export interface ServeContext {
  config: ServeConfig;
  executor: JobExecutor;
  jobs: JobQueue;
  slots: RunSlots;
  /** Present when the server has keys. */
  limiter?: KeyLimiter;
  /** `/v1/runs/{id}/events` streams open at once. */
  streams: OpenStreams;
  /** SSE comments at least this often while a stream waits (ms). */
  keepAliveMs: number;
  /** Aborts when the server shuts down. */
  shutdown: AbortSignal;
  /** Where unexpected errors are reported (redacted). */
  log: (line: string) => void;
}

export type ServeEnv = {
  Variables: {
    key: KeyEntry | undefined;
    /** The request's hold on the server's budget of request bodies (none for a request without a body). */
    bodyHold: BodyHold | undefined;
  };
};

/** The JSON body, or a 400 when it is not JSON. */
export async function readJsonBody(c: Context<ServeEnv>): Promise<unknown> {
  try {
    return await c.req.json();
  } catch {
    throw badRequest(null, "The request body is not valid JSON.", "invalid_json");
  }
}

/**
 * Lets the run start under its key's limits (a 429 when over one); with a daily budget, the run's cost limit
 * becomes what the key has left. Without keys, nothing to check.
 */
export function admitRun(
  serve: ServeContext,
  key: KeyEntry | undefined,
  spec: RunSpec,
): Admission | undefined {
  if (key === undefined || serve.limiter === undefined) return undefined;
  if (key.maxCostPerDay !== undefined) {
    const unpriced = unpricedModel(spec.model, serve.config);
    if (unpriced !== undefined) {
      throw badRequest(
        "model",
        `Key ${key.name} has a daily cost budget, and this server does not know the price of ${unpriced}: pick a model with a known price, or ask the operator to add it (rlm serve --prices FILE).`,
        "price_unknown",
      );
    }
  }
  const admission = serve.limiter.admit(key, spec.limits.maxCostUsd);
  if (admission.costCap !== undefined) spec.limits = { ...spec.limits, maxCostUsd: admission.costCap };
  return admission;
}

/** An executor's or queue's failure as an API error: our own errors keep their (redacted) message. */
export function asApiError(error: unknown, serve: ServeContext): ApiError {
  if (error instanceof ApiError) return error;
  if (RlmError.isInstance(error)) {
    const name = (error as { reason?: unknown }).reason;
    if (name === "invalid") return badRequest(null, redactSecrets(error.message), "invalid_run");
    if (name === "full") {
      return new ApiError({
        status: 429,
        type: "server_busy",
        code: "queue_full",
        message: redactSecrets(error.message),
        headers: { "retry-after": "5" },
      });
    }
    if (name === "unavailable") {
      return new ApiError({ status: 503, code: "queue_unavailable", message: redactSecrets(error.message) });
    }
    return new ApiError({ status: 500, code: "server_error", message: redactSecrets(error.message) });
  }
  serve.log(
    redactSecrets(
      `rlm serve: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`,
    ),
  );
  return new ApiError({ status: 500, code: "server_error", message: "The server failed on this request." });
}
