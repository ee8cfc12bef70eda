import {
  closeSync,
  constants,
  type FSWatcher,
  fstatSync,
  openSync,
  readSync,
  statSync,
  watch,
} from "node:fs";
import type { RunEvent } from "../../engine/run-events.ts";
import { UsageError } from "../../errors/usage-error.ts";
import { readJsonlTrace } from "../jsonl-trace.ts";
import { isOfficialLog } from "../official-trace.ts";
import { wellFormedEvents } from "./event-shape.ts";

/** The largest trace the viewer reads (the page holds all of it; V8's strings end near 512 MiB anyway). */
export const MAX_TRACE_BYTES = 256 * 1024 * 1024;
/** Bytes read per step while catching up. */
const CHUNK_BYTES = 4 * 1024 * 1024;
/** How often the file is checked besides fs.watch (which can miss changes, and loses a file that is replaced). */
const POLL_MS = 1_000;

export interface TraceFollowerOptions {
  /** Called after new events were read (or the file started over); `reset` when earlier events are gone. */
  onChange(reset: boolean): void;
  onWarning?(message: string): void;
}

/**
 * Follows a trace file while a run writes it: reads the bytes appended since the last read, keeps a partial last
 * line until its newline arrives, and starts over when the file is truncated or replaced. An official RLM log
 * is re-read whole on each change (its records convert only together).
 */
export class TraceFollower {
  readonly path: string;
  events: RunEvent[] = [];
  private offset = 0;
  private inode = 0;
  /** The partial last line, in the pieces it arrived in (joined once its newline comes, never re-scanned). */
  private pending: Buffer[] = [];
  private notRegularWarned = false;
  /** When an official log may be read again (performance.now() ms). */
  private nextOfficialRead = 0;
  private official = false;
  private watcher: FSWatcher | undefined;
  private poll: NodeJS.Timeout | undefined;
  private scheduled: NodeJS.Timeout | undefined;
  private closed = false;
  private stopped = false;
  private readonly options: TraceFollowerOptions;

  constructor(path: string, options: TraceFollowerOptions) {
    this.path = path;
    this.options = options;
  }

  /** Reads what the file holds now; a missing file or one that is not a trace is a UsageError. */
  start(): void {
    const stat = this.stat();
    if (stat === undefined)
      throw new UsageError({ message: `Cannot read the trace ${this.path}: no such file.` });
    if (stat.isDirectory())
      throw new UsageError({
        message: `Cannot read the trace ${this.path}: it is a directory; give a .jsonl file.`,
      });
    this.readNew(true);
    this.watch();
    this.poll = setInterval(() => this.check(), POLL_MS);
    this.poll.unref();
  }

  close(): void {
    this.closed = true;
    this.watcher?.close();
    clearInterval(this.poll);
    clearTimeout(this.scheduled);
  }

  private stat() {
    try {
      return statSync(this.path);
    } catch {
      return undefined;
    }
  }

  private watch(): void {
    this.watcher?.close();
    try {
      this.watcher = watch(this.path, { persistent: false }, () => this.check());
      this.watcher.on("error", () => this.watcher?.close());
    } catch {
      this.watcher = undefined; // the poll still sees changes
    }
  }

  /** Reads soon: several notifications of one write are read together. */
  private check(): void {
    if (this.closed || this.scheduled) return;
    this.scheduled = setTimeout(() => {
      this.scheduled = undefined;
      if (this.closed) return;
      try {
        this.readNew(false);
      } catch (error) {
        this.options.onWarning?.((error as Error).message);
      }
    }, 30);
  }

  private readNew(first: boolean): void {
    const stat = this.stat();
    if (stat === undefined || this.stopped) return;
    const replaced = !first && (stat.ino !== this.inode || stat.size < this.offset);
    if (replaced) {
      this.options.onWarning?.(`${this.path} was truncated or replaced; reading it from the start`);
      this.events = [];
      this.offset = 0;
      this.pending = [];
      this.official = false;
      this.watch();
    }
    this.inode = stat.ino;
    // A FIFO or a device (a link swapped in while watching) would block the open or never end: not read.
    if (!stat.isFile()) {
      const message = `${this.path} is not a regular file`;
      if (first) throw new UsageError({ message: `Cannot read the trace ${message}; give a .jsonl file.` });
      if (!this.notRegularWarned) this.options.onWarning?.(`${message}; waiting for a trace file there`);
      this.notRegularWarned = true;
      return;
    }
    this.notRegularWarned = false;
    if (stat.size > MAX_TRACE_BYTES) {
      const message = `${this.path} is larger than ${MAX_TRACE_BYTES / 1024 / 1024} MiB, more than the viewer reads`;
      if (first) throw new UsageError({ message: `${message}; show a smaller trace.` });
      this.options.onWarning?.(`${message}; stopped following it`);
      this.stopped = true;
      return;
    }
    if (stat.size === this.offset && !replaced) return;
    if (this.official) {
      // Re-read whole, so spaced (the poll comes back): a big log appended to without pause would else be read
      // and converted again every 30 ms, and the server would do nothing else.
      const now = performance.now();
      if (now < this.nextOfficialRead) return;
      this.offset = stat.size;
      this.events = wellFormedEvents(
        readJsonlTrace(this.path, this.options.onWarning),
        this.options.onWarning,
      );
      this.nextOfficialRead = performance.now() + Math.max(POLL_MS / 2, 4 * (performance.now() - now));
      this.options.onChange(true);
      return;
    }
    const records = this.readLines(stat.size, first);
    // An official log (from the start, or written into a file that was empty when the view began).
    if (this.events.length === 0 && records.length > 0 && isOfficialLog(records)) {
      this.official = true;
      this.events = wellFormedEvents(
        readJsonlTrace(this.path, this.options.onWarning),
        this.options.onWarning,
      );
      if (!first) this.options.onChange(true);
      return;
    }
    if (first && records.some((record) => !isEventLike(record))) {
      throw new UsageError({
        message: `${this.path} is neither an rlmkit trace (rlm run --trace) nor a log of the official RLM (metadata and iteration records).`,
      });
    }
    const fresh = wellFormedEvents(records, (message) =>
      this.options.onWarning?.(`${this.path}: ${message}`),
    );
    this.events.push(...fresh);
    if (!first && (fresh.length > 0 || replaced)) this.options.onChange(replaced);
  }

  /**
   * The complete lines appended since the last read, parsed; the partial last line waits for its newline. Only the
   * new bytes are searched for newlines, so a line that grows for ever costs its length once, not its length
   * times the reads (it ends at MAX_TRACE_BYTES with the file). The file is opened without blocking and must be
   * a regular file by its descriptor (it may have been swapped since the stat).
   */
  private readLines(size: number, first: boolean): unknown[] {
    const records: unknown[] = [];
    const fd = openSync(this.path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      if (!fstatSync(fd).isFile()) throw new Error(`${this.path} is not a regular file`);
      while (this.offset < size) {
        const chunk = Buffer.alloc(Math.min(CHUNK_BYTES, size - this.offset));
        const read = readSync(fd, chunk, 0, chunk.length, this.offset);
        if (read <= 0) break;
        this.offset += read;
        let data = chunk.subarray(0, read);
        for (let newline = data.indexOf(10); newline >= 0; newline = data.indexOf(10)) {
          const line = Buffer.concat([...this.pending, data.subarray(0, newline)])
            .toString("utf8")
            .trim();
          this.pending = [];
          data = data.subarray(newline + 1);
          if (line === "") continue;
          try {
            records.push(JSON.parse(line));
          } catch {
            if (first)
              throw new UsageError({
                message: `${this.path} has a line that is not JSON; is this an rlmkit trace?`,
              });
            this.options.onWarning?.(`${this.path}: skipped a line that is not JSON`);
          }
        }
        if (data.length > 0) this.pending.push(data);
      }
    } finally {
      closeSync(fd);
    }
    return records;
  }
}

/** What `rlm trace show` takes for a run event: a record with a type and a run id. */
function isEventLike(record: unknown): boolean {
  return (
    record !== null &&
    typeof record === "object" &&
    typeof (record as { type?: unknown }).type === "string" &&
    typeof (record as { runId?: unknown }).runId === "string"
  );
}
