const marker = Symbol.for("rlmkit.error");

export interface RlmErrorOptions {
  message: string;
  cause?: unknown;
}

/**
 * Base class of every error rlmkit throws on purpose. `isInstance` works across duplicate installs
 * because it checks a global symbol instead of the prototype chain.
 */
export class RlmError extends Error {
  readonly [marker] = true;
  /** True when the cause is the caller's input or configuration (CLI exit code 2), not a failed run. */
  readonly isUserError: boolean = false;

  constructor({ message, cause }: RlmErrorOptions) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = "RlmError";
  }

  static isInstance(error: unknown): error is RlmError {
    return typeof error === "object" && error !== null && marker in error;
  }
}
