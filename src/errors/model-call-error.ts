import { RlmError } from "./rlm-error.ts";

export type ModelCallFailure = "api" | "timeout" | "cancelled" | "network" | "other";

export interface ModelCallErrorOptions {
  message: string;
  /** `provider:modelId` of the model that was called. */
  model: string;
  kind: ModelCallFailure;
  attempts: number;
  statusCode?: number;
  isRetryable?: boolean;
  cause?: unknown;
}

/**
 * A model call that failed for good (after retries, on timeout or on cancellation).
 * The message names the model and the status; it never carries the request body or a key.
 */
export class ModelCallError extends RlmError {
  readonly model: string;
  readonly kind: ModelCallFailure;
  readonly attempts: number;
  readonly statusCode: number | undefined;
  readonly isRetryable: boolean;

  constructor(options: ModelCallErrorOptions) {
    super({ message: options.message, cause: options.cause });
    this.name = "ModelCallError";
    this.model = options.model;
    this.kind = options.kind;
    this.attempts = options.attempts;
    this.statusCode = options.statusCode;
    this.isRetryable = options.isRetryable ?? false;
  }
}
