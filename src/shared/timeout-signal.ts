/**
 * A signal that aborts after `ms`, as `AbortSignal.timeout` does, but whose timer can be cleared. A server makes
 * many calls and runs with long limits: `AbortSignal.timeout` keeps each signal, and whatever listens to it, alive
 * until its timer fires (ten minutes for a run's default limit), so memory grew with the request rate.
 */
export interface TimeoutSignal {
  readonly signal: AbortSignal;
  /** Stops the timer; the signal then never aborts. Safe to call more than once. */
  clear(): void;
}

export function timeoutSignal(ms: number): TimeoutSignal {
  const controller = new AbortController();
  const timer = setTimeout(() => {
    controller.abort(new DOMException("The operation was aborted due to timeout", "TimeoutError"));
  }, ms);
  // Like AbortSignal.timeout: the timer alone does not keep the process alive.
  timer.unref();
  return { signal: controller.signal, clear: () => clearTimeout(timer) };
}
