/**
 * A budget of bytes that host work done for the guest may hold at once (a semaphore weighted by size).
 * Requests wait in order: a large request at the head is not starved by a stream of small ones.
 */
export class ByteBudget {
  readonly limitBytes: number;
  private inUse = 0;
  private peak = 0;
  private readonly waiting: Array<{ bytes: number; grant: () => void }> = [];

  constructor(limitBytes: number) {
    if (!(Number.isFinite(limitBytes) && limitBytes > 0)) {
      throw new RangeError(`a byte budget must be a positive number of bytes, not ${limitBytes}`);
    }
    this.limitBytes = Math.floor(limitBytes);
  }

  /** Bytes held now. */
  get inUseBytes(): number {
    return this.inUse;
  }

  /** The most bytes ever held at once. */
  get peakBytes(): number {
    return this.peak;
  }

  /**
   * Waits until `bytes` fit, takes them, and returns the function that gives them back (call it once).
   * Refuses at once a request larger than the whole budget: it could never run.
   */
  async acquire(bytes: number, what = "this read"): Promise<() => void> {
    const size = Math.max(0, Math.ceil(bytes));
    if (size > this.limitBytes) {
      throw new RangeError(
        `${what} needs ${size} bytes, larger than the host's read budget of ${this.limitBytes} bytes: read a smaller range`,
      );
    }
    if (this.waiting.length > 0 || this.inUse + size > this.limitBytes) {
      await new Promise<void>((grant) => this.waiting.push({ bytes: size, grant }));
    } else {
      this.take(size);
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.inUse -= size;
      this.grantWaiting();
    };
  }

  private take(size: number): void {
    this.inUse += size;
    this.peak = Math.max(this.peak, this.inUse);
  }

  /** Grants waiting requests in order while the one at the head fits. */
  private grantWaiting(): void {
    for (let next = this.waiting[0]; next !== undefined; next = this.waiting[0]) {
      if (this.inUse + next.bytes > this.limitBytes) return;
      this.waiting.shift();
      this.take(next.bytes);
      next.grant();
    }
  }
}
