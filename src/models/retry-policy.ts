export interface RetryPolicy {
  /** Retries after the first attempt (default 3). */
  maxRetries: number;
  /** First backoff delay in ms (default 500); doubles each retry. */
  initialDelayMs: number;
  /** Longest backoff delay in ms (default 20,000). */
  maxDelayMs: number;
  /** A `retry-after` longer than this (ms, default 60,000) fails the call instead of waiting. */
  maxRetryAfterMs: number;
}

export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  maxRetries: 3,
  initialDelayMs: 500,
  maxDelayMs: 20_000,
  maxRetryAfterMs: 60_000,
};

/** Reads `retry-after-ms` or `retry-after` (seconds or an HTTP date) from response headers, in ms. */
export function retryAfterMs(
  headers: Record<string, string> | undefined,
  now = Date.now(),
): number | undefined {
  if (headers === undefined) return undefined;
  const lower = Object.fromEntries(
    Object.entries(headers).map(([name, value]) => [name.toLowerCase(), value]),
  );
  const ms = Number.parseFloat(lower["retry-after-ms"] ?? "");
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const value = lower["retry-after"];
  if (value === undefined) return undefined;
  const seconds = Number.parseFloat(value);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, date - now);
}

/** Exponential backoff with jitter: a random delay between half and all of the nominal delay. */
export function backoffDelayMs(policy: RetryPolicy, retry: number, random = Math.random): number {
  const nominal = Math.min(policy.maxDelayMs, policy.initialDelayMs * 2 ** retry);
  return nominal / 2 + (random() * nominal) / 2;
}
