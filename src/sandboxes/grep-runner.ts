/**
 * Runs grep calls in a long-lived worker thread with a deadline and a heap limit. The main thread only checks
 * options and posts messages, so the sandbox's watchdogs (which run on the host's event loop) keep running
 * while a pattern grinds. One call runs at a time; the rest wait in order.
 */
import { Worker } from "node:worker_threads";
import { type Corpus, corpusChars, type FileBlocks, type GrepMatch, type GrepQuery } from "./grep-core.ts";

export type GrepJob =
  | { kind: "context"; query: GrepQuery }
  | { kind: "text"; query: GrepQuery; text: string }
  | { kind: "file"; query: GrepQuery; file: FileBlocks };

export type GrepReply =
  | { id: number; matches: GrepMatch[] }
  | { id: number; error: { name: string; message: string } }
  | { id: number; progress: { done: number; blocks: number } };

/** Time one grep call may run (default 10 s). */
export const DEFAULT_GREP_TIMEOUT_MS = 10_000;
/** Heap of the worker beyond its copy of the context, in MiB (default 256). */
export const DEFAULT_GREP_HEAP_MB = 256;
/** Calls that may wait behind the running one; more are refused rather than queued without end. */
export const MAX_WAITING_GREPS = 1_000;
/** A worker with nothing to do is stopped after this long, freeing its copy of the context. */
const IDLE_MS = 30_000;
/**
 * Grep threads alive at once over the whole process (each holds ~20 MB and a copy of its context). Every run and
 * child run has its own GrepWorker; past this many, an idle thread is stopped to make room, or the call waits.
 */
export const MAX_GREP_THREADS = 8;

const WORKER_URL = new URL(
  import.meta.url.endsWith(".ts") ? "./grep-worker.ts" : "./grep-worker.js",
  import.meta.url,
);

interface Waiting {
  id: number;
  job: GrepJob;
  timeoutMs: number;
  resolve: (matches: GrepMatch[]) => void;
  reject: (error: Error) => void;
}

interface Running extends Waiting {
  timer: NodeJS.Timeout;
  progress?: { done: number; blocks: number };
}

/** Checks a time budget given by a caller. */
export function checkTimeoutMs(value: number | undefined, fallback = DEFAULT_GREP_TIMEOUT_MS): number {
  if (value === undefined) return fallback;
  if (!(Number.isFinite(value) && value > 0)) {
    throw new RangeError(`grep timeout must be a positive number of milliseconds, not ${value}`);
  }
  return value;
}

function seconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(1))} s`;
}

/** What the guest reads when its grep ran out of time. */
function timeoutMessage(call: Running): string {
  const base = `grep stopped after ${seconds(call.timeoutMs)}: the pattern is too slow for this text (catastrophic backtracking? avoid nested quantifiers such as (a+)+ and alternatives that match the same text) or the text is too large for one call. Simplify or anchor the pattern, or search smaller pieces with the text option.`;
  if (call.job.kind !== "file") return base;
  const blocks = call.job.file.blockStarts.length;
  const done = call.progress?.done ?? 0;
  return `${base} It stopped in block ${Math.min(done + 1, blocks)} of ${blocks}; to go further, grep block by block with context.block(i) as the text option.`;
}

function sameQuery(a: GrepQuery, b: GrepQuery): boolean {
  return a.pattern === b.pattern && a.flags === b.flags && a.fixed === b.fixed;
}

/** The process-wide share of grep threads: which GrepWorkers hold one, and which wait for one. */
const threads = {
  holders: new Set<GrepWorker>(),
  waiting: [] as GrepWorker[],
};

/** Takes a thread for `owner`, stopping an idle holder if none is free; false when all are busy. */
function claimThread(owner: GrepWorker): boolean {
  if (threads.holders.size >= MAX_GREP_THREADS) {
    const idle = [...threads.holders].find((holder) => holder.idle);
    if (idle === undefined) {
      if (!threads.waiting.includes(owner)) threads.waiting.push(owner);
      return false;
    }
    threads.holders.delete(idle); // taken over here, not handed to whoever waits
    idle.stopWorker();
  }
  threads.holders.add(owner);
  return true;
}

function releaseThread(owner: GrepWorker): void {
  if (!threads.holders.delete(owner)) return;
  while (threads.holders.size < MAX_GREP_THREADS && threads.waiting.length > 0)
    threads.waiting.shift()?.wake();
}

/** Grep threads alive now, over the process. */
export function grepThreadCount(): number {
  return threads.holders.size;
}

export class GrepWorker {
  private readonly corpus: () => Corpus;
  private readonly heapMb: number;
  private worker: Worker | undefined;
  private running: Running | undefined;
  private readonly waiting: Waiting[] = [];
  private idleTimer: NodeJS.Timeout | undefined;
  private nextId = 1;
  private closed = false;

  /** `corpus` is read when a worker starts (the first call, or the first after a stop). */
  constructor(corpus: () => Corpus = () => "", options: { heapMb?: number } = {}) {
    this.corpus = corpus;
    const heapMb = options.heapMb ?? DEFAULT_GREP_HEAP_MB;
    if (!(Number.isFinite(heapMb) && heapMb >= 16)) {
      throw new RangeError(`grep heap must be at least 16 MiB, not ${heapMb}`);
    }
    this.heapMb = heapMb;
  }

  /** Runs one job within `timeoutMs`; rejects with a clear error when the time or the heap runs out. */
  run(job: GrepJob, timeoutMs = DEFAULT_GREP_TIMEOUT_MS): Promise<GrepMatch[]> {
    if (this.closed) return Promise.reject(new Error("grep is no longer available: its context was closed"));
    if (this.waiting.length >= MAX_WAITING_GREPS) {
      return Promise.reject(
        new Error(
          `too many grep calls at once (${MAX_WAITING_GREPS} waiting): await them in smaller batches`,
        ),
      );
    }
    return new Promise((resolve, reject) => {
      this.waiting.push({ id: this.nextId++, job, timeoutMs, resolve, reject });
      this.pump();
    });
  }

  /** Stops the worker and fails every call not yet answered. */
  close(): void {
    this.closed = true;
    threads.waiting = threads.waiting.filter((owner) => owner !== this);
    this.stopWorker();
    const error = new Error("grep is no longer available: its context was closed");
    if (this.running) {
      clearTimeout(this.running.timer);
      this.running.reject(error);
      this.running = undefined;
    }
    for (const call of this.waiting.splice(0)) call.reject(error);
  }

  private pump(): void {
    if (this.running !== undefined || this.closed) return;
    const next = this.waiting.shift();
    if (next === undefined) {
      this.goIdle();
      return;
    }
    clearTimeout(this.idleTimer);
    if (this.worker === undefined && !claimThread(this)) {
      this.waiting.unshift(next); // woken when a thread frees
      return;
    }
    const worker = this.worker ?? this.startWorker();
    worker.ref();
    const timer = setTimeout(() => this.onTimeout(), next.timeoutMs);
    this.running = { ...next, timer };
    worker.postMessage({ id: next.id, job: next.job });
  }

  private startWorker(): Worker {
    const corpus = this.corpus();
    // The worker holds one copy of the context (two bytes a character at worst) besides its working heap.
    const corpusMb = Math.ceil((corpusChars(corpus) * 2) / (1024 * 1024));
    const worker = new Worker(WORKER_URL, {
      workerData: { corpus },
      resourceLimits: { maxOldGenerationSizeMb: this.heapMb + corpusMb },
    });
    worker.on("message", (reply: GrepReply) => this.onReply(worker, reply));
    worker.on("error", (error: Error) => this.onFailure(worker, error));
    worker.on("exit", (code: number) =>
      this.onFailure(worker, new Error(`its worker exited with code ${code}`)),
    );
    this.worker = worker;
    return worker;
  }

  /** True when this holds a thread with no call running on it. */
  get idle(): boolean {
    return this.worker !== undefined && this.running === undefined;
  }

  /** Runs waiting calls once a thread is free (called by the process-wide thread share). */
  wake(): void {
    this.pump();
  }

  /** Stops the thread, if any, and hands it back to the process-wide share. */
  stopWorker(): void {
    const worker = this.worker;
    this.worker = undefined;
    clearTimeout(this.idleTimer);
    if (worker !== undefined) void worker.terminate();
    releaseThread(this);
  }

  /** With nothing to do the worker stops holding the process open, and is stopped after a while. */
  private goIdle(): void {
    if (this.worker === undefined) return;
    if (threads.waiting.length > 0) {
      this.stopWorker(); // another context's calls are waiting for a thread
      return;
    }
    this.worker.unref();
    clearTimeout(this.idleTimer);
    this.idleTimer = setTimeout(() => this.stopWorker(), IDLE_MS);
    this.idleTimer.unref();
  }

  private finish(settle: (call: Running) => void): void {
    const call = this.running;
    if (call === undefined) return;
    clearTimeout(call.timer);
    this.running = undefined;
    settle(call);
    this.pump();
  }

  private onReply(worker: Worker, reply: GrepReply): void {
    if (worker !== this.worker || reply.id !== this.running?.id) return;
    if ("progress" in reply) {
      this.running.progress = reply.progress;
      return;
    }
    if ("matches" in reply) {
      const { matches } = reply;
      this.finish((call) => call.resolve(matches));
      return;
    }
    const failure = Object.assign(new Error(reply.error.message), { name: reply.error.name });
    this.finish((call) => call.reject(failure));
  }

  private onTimeout(): void {
    const call = this.running;
    if (call === undefined) return;
    // Terminating the thread interrupts the regular expression mid-match; the next call starts a fresh worker.
    this.stopWorker();
    const message = timeoutMessage(call);
    // Calls waiting with the same pattern would most likely grind the same way: fail them now, not one budget
    // each (Promise.all over many texts with one slow pattern would otherwise hold a core for minutes).
    for (let index = this.waiting.length - 1; index >= 0; index--) {
      const waiting = this.waiting[index];
      if (waiting !== undefined && sameQuery(waiting.job.query, call.job.query)) {
        this.waiting.splice(index, 1);
        waiting.reject(new Error(message));
      }
    }
    this.finish(() => call.reject(new Error(message)));
  }

  private onFailure(worker: Worker, error: Error): void {
    if (worker !== this.worker) return;
    this.stopWorker();
    const outOfMemory = (error as { code?: string }).code === "ERR_WORKER_OUT_OF_MEMORY";
    const message = outOfMemory
      ? `grep ran out of memory (its worker may use about ${this.heapMb} MiB besides the context): use a simpler pattern, a smaller maxMatches, or a smaller text`
      : `grep failed: ${error.message}`;
    this.finish((call) => call.reject(new Error(message)));
  }
}
