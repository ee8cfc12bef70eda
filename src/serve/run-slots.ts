/**
 * `--max-concurrent-runs N`: at most N runs execute in this process at once (chat completions and in-process
 * jobs together). More wait in line, first come first served; a chat completion that finds the line full
 * (`maxWaiting`) is refused at once with a 429 (which OpenAI clients retry), and one whose client goes away
 * while it waits leaves the line. Jobs wait without a bound: their queue is the line.
 */
import { ApiError } from "./api-error.ts";

interface Waiter {
  grant: () => void;
}

export interface RunTicket {
  /** Resolves when the run may start; rejects if `signal` aborts first. */
  ready: Promise<void>;
  /** Gives the place back (or leaves the line); safe to call more than once. */
  release(): void;
}

export class RunSlots {
  readonly capacity: number;
  readonly maxWaiting: number;
  private running = 0;
  private readonly line: Waiter[] = [];

  constructor(capacity: number, maxWaiting = capacity * 32) {
    this.capacity = Math.max(1, Math.floor(capacity));
    this.maxWaiting = Math.max(0, Math.floor(maxWaiting));
  }

  get inFlight(): number {
    return this.running;
  }

  get waiting(): number {
    return this.line.length;
  }

  /** A place in line, taken at once (or a 429 when `bounded` and the line is full). */
  enter(signal: AbortSignal, bounded = true): RunTicket {
    let state: "waiting" | "running" | "done" = "waiting";
    const release = () => {
      if (state === "running") {
        this.running--;
        this.line.shift()?.grant();
      } else if (state === "waiting") {
        const index = this.line.indexOf(waiter);
        if (index >= 0) this.line.splice(index, 1);
      }
      state = "done";
    };
    let grant!: () => void;
    const granted = new Promise<void>((resolve) => {
      grant = resolve;
    });
    const waiter: Waiter = {
      grant: () => {
        if (state !== "waiting") return;
        state = "running";
        this.running++;
        grant();
      },
    };
    if (this.running < this.capacity && this.line.length === 0) waiter.grant();
    else if (bounded && this.line.length >= this.maxWaiting) {
      throw new ApiError({
        status: 429,
        type: "server_busy",
        code: "server_busy",
        message: `The server runs ${this.running} runs and has ${this.line.length} waiting, its limit; try again shortly.`,
        headers: { "retry-after": "2" },
      });
    } else this.line.push(waiter);
    let onAbort = () => {};
    const ready = new Promise<void>((resolve, reject) => {
      onAbort = () => {
        release();
        reject(signal.reason ?? new Error("cancelled"));
      };
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      void granted.then(() => {
        signal.removeEventListener("abort", onAbort);
        resolve();
      });
    });
    // A ticket given back unused is no failure: its rejection is for whoever awaits `ready`, if anyone.
    ready.catch(() => {});
    return {
      ready,
      release: () => {
        signal.removeEventListener("abort", onAbort);
        release();
      },
    };
  }

  /** Runs `task` in a place (waiting without a bound), for the executor of an in-process job queue. */
  async run<T>(signal: AbortSignal, task: () => Promise<T>): Promise<T> {
    const ticket = this.enter(signal, false);
    try {
      await ticket.ready;
      return await task();
    } finally {
      ticket.release();
    }
  }
}
