import { RlmError, type RlmErrorOptions } from "./rlm-error.ts";

/** Bad command-line usage or bad input: the fix is on the caller's side. */
export class UsageError extends RlmError {
  override readonly isUserError = true;

  constructor(options: RlmErrorOptions) {
    super(options);
    this.name = "UsageError";
  }
}
