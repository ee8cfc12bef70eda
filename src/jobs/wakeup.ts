/**
 * A wake-up call for a loop that waits for news (a live event reader): `notify()` marks it; `wait()` returns at
 * once when it was marked since the last wait, else when notified, after `timeoutMs`, or when `signal` aborts.
 * Level-triggered, so a notification that comes between a reader's query and its wait is never lost.
 */
export class Wakeup {
  private pending = false;
  private wake: (() => void) | undefined;

  notify(): void {
    this.pending = true;
    this.wake?.();
  }

  async wait(timeoutMs: number, signal?: AbortSignal): Promise<void> {
    if (!this.pending && !signal?.aborted) {
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", done);
          this.wake = undefined;
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        signal?.addEventListener("abort", done, { once: true });
        this.wake = done;
      });
    }
    this.pending = false;
  }
}
