/**
 * What clients may hold of the server at once, beyond the runs themselves (run-slots.ts, key-limits.ts):
 * - `BodyBudget`: bytes of request bodies in memory. Each request with a body holds its declared length (the
 *   body cap when it declares none) from before its body is read until its reply is done (a streaming chat
 *   completion: until its run ends), so many large bodies sent at once, or waiting in the run line, cannot
 *   take the process's memory; past the budget a request is refused at once (429, retry).
 * - `OpenStreams`: `GET /v1/runs/{id}/events` streams open at once, in all and per key; each holds a socket,
 *   timers and a reader of the queue (a PostgreSQL query on every wake-up).
 */
import { ApiError } from "./api-error.ts";

/** 8 bodies of the largest size (MAX_BODY_BYTES, 32 MiB). */
export const DEFAULT_MAX_BODY_BYTES_IN_FLIGHT = 256 * 1024 * 1024;
export const DEFAULT_MAX_EVENT_STREAMS = 1_000;
export const DEFAULT_MAX_EVENT_STREAMS_PER_KEY = 32;

/** A request's hold on the body budget. */
export interface BodyHold {
  /** The reply outlives the handler (a stream): the caller gives the hold back itself, with the function returned. */
  keep(): () => void;
  /** Given back unless kept; safe to call more than once. */
  releaseUnlessKept(): void;
}

const busy = (message: string, code = "server_busy") =>
  new ApiError({ status: 429, type: "server_busy", code, message, headers: { "retry-after": "2" } });

export class BodyBudget {
  readonly capacity: number;
  private held = 0;

  constructor(capacity = DEFAULT_MAX_BODY_BYTES_IN_FLIGHT) {
    this.capacity = capacity;
  }

  get inFlight(): number {
    return this.held;
  }

  /**
   * Holds the bytes a request's body may take: its `content-length`, or `maxBodyBytes` for a body of unknown
   * length (chunked); nothing without a body. Throws a 429 ApiError when they do not fit.
   */
  hold(contentLength: string | undefined, chunked: boolean, maxBodyBytes: number): BodyHold | undefined {
    let bytes = 0;
    if (contentLength !== undefined && /^\d{1,16}$/.test(contentLength.trim())) {
      bytes = Math.min(Number(contentLength), maxBodyBytes);
    } else if (chunked || contentLength !== undefined) bytes = maxBodyBytes;
    if (bytes === 0) return undefined;
    if (this.held + bytes > this.capacity) {
      throw busy(
        `The server holds ${this.held} bytes of request bodies, its limit is ${this.capacity}; try again shortly.`,
      );
    }
    this.held += bytes;
    let state: "held" | "kept" | "released" = "held";
    const release = () => {
      if (state === "released") return;
      state = "released";
      this.held -= bytes;
    };
    return {
      keep: () => {
        if (state === "held") state = "kept";
        return release;
      },
      releaseUnlessKept: () => {
        if (state === "held") release();
      },
    };
  }
}

export class OpenStreams {
  readonly max: number;
  readonly maxPerKey: number;
  private open = 0;
  private readonly byKey = new Map<string, number>();

  constructor(max = DEFAULT_MAX_EVENT_STREAMS, maxPerKey = DEFAULT_MAX_EVENT_STREAMS_PER_KEY) {
    this.max = max;
    this.maxPerKey = maxPerKey;
  }

  /** A place for one stream of `key` (undefined: the open server), or a 429; returns the function that frees it. */
  enter(key: string | undefined): () => void {
    const mine = key === undefined ? 0 : (this.byKey.get(key) ?? 0);
    if (key !== undefined && mine >= this.maxPerKey) {
      throw busy(
        `Key ${key} has ${mine} event streams open, its limit; close one first.`,
        "too_many_streams",
      );
    }
    if (this.open >= this.max) {
      throw busy(
        `The server has ${this.open} event streams open, its limit; try again shortly.`,
        "too_many_streams",
      );
    }
    this.open += 1;
    if (key !== undefined) this.byKey.set(key, mine + 1);
    let open = true;
    return () => {
      if (!open) return;
      open = false;
      this.open -= 1;
      if (key === undefined) return;
      const left = (this.byKey.get(key) ?? 1) - 1;
      if (left > 0) this.byKey.set(key, left);
      else this.byKey.delete(key);
    };
  }
}
