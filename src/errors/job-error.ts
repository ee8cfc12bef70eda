import { RlmError, type RlmErrorOptions } from "./rlm-error.ts";

/**
 * - "invalid": the submitted spec or owner breaks the rules (not JSON, too large): the caller's to fix.
 * - "full": the queue holds as many unfinished jobs as it may; try again later.
 * - "unavailable": the queue's database cannot be reached or set up.
 */
export type JobErrorReason = "invalid" | "full" | "unavailable";

/** A job queue refused or failed a request. Only "invalid" is the caller's own mistake (CLI exit code 2). */
export class JobError extends RlmError {
  override readonly isUserError: boolean;
  readonly reason: JobErrorReason;

  constructor(options: RlmErrorOptions & { reason: JobErrorReason }) {
    super(options);
    this.name = "JobError";
    this.reason = options.reason;
    this.isUserError = options.reason === "invalid";
  }
}
