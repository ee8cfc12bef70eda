import { RlmError, type RlmErrorOptions } from "./rlm-error.ts";

export type MemoryErrorReason = "not-found" | "invalid" | "unavailable" | "conflict";

/**
 * A memory store refused or failed an operation: an unknown id, an item that breaks the rules, a store that
 * cannot be opened, an id that already exists. All are the caller's to fix (CLI exit code 2).
 */
export class MemoryError extends RlmError {
  override readonly isUserError = true;
  readonly reason: MemoryErrorReason;

  constructor(options: RlmErrorOptions & { reason: MemoryErrorReason }) {
    super(options);
    this.name = "MemoryError";
    this.reason = options.reason;
  }
}
