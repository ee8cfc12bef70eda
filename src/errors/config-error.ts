import { RlmError, type RlmErrorOptions } from "./rlm-error.ts";

/** Missing or invalid configuration: an unknown provider, a missing API key, no model configured. */
export class ConfigError extends RlmError {
  override readonly isUserError = true;

  constructor(options: RlmErrorOptions) {
    super(options);
    this.name = "ConfigError";
  }
}
