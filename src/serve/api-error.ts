/**
 * Errors as the OpenAI API sends them: `{ error: { message, type, param, code } }` with an HTTP status. Every
 * refusal of `rlm serve` is one of these, so the official clients raise their own error classes
 * (BadRequestError, AuthenticationError, NotFoundError, RateLimitError) for them. Messages never hold a secret.
 */

export type ApiErrorStatus = 400 | 401 | 403 | 404 | 413 | 429 | 500 | 502 | 503;

export interface ApiErrorBody {
  error: { message: string; type: string; param: string | null; code: string | null };
}

export class ApiError extends Error {
  readonly status: ApiErrorStatus;
  readonly type: string;
  readonly param: string | null;
  readonly code: string | null;
  /** Extra response headers (retry-after on a 429). */
  readonly headers: Record<string, string>;

  constructor(options: {
    status: ApiErrorStatus;
    message: string;
    type?: string;
    param?: string | null;
    code?: string | null;
    headers?: Record<string, string>;
  }) {
    super(options.message);
    this.name = "ApiError";
    this.status = options.status;
    this.type = options.type ?? (options.status >= 500 ? "server_error" : "invalid_request_error");
    this.param = options.param ?? null;
    this.code = options.code ?? null;
    this.headers = options.headers ?? {};
  }

  get body(): ApiErrorBody {
    return { error: { message: this.message, type: this.type, param: this.param, code: this.code } };
  }
}

/** A 400 that names the field at fault (`messages[2].content`, `rlm.limits.maxTokens`). */
export function badRequest(param: string | null, message: string, code = "invalid_value"): ApiError {
  return new ApiError({ status: 400, message, param, code });
}

export function isApiError(error: unknown): error is ApiError {
  return error instanceof ApiError;
}
