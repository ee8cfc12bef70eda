import { closeSync, openSync, read, readSync, statSync } from "node:fs";
import { checkGrepCall, type GrepMatch, type GrepOptions } from "../sandboxes/grep-core.ts";
import { checkTimeoutMs, GrepWorker } from "../sandboxes/grep-runner.ts";
import { ByteBudget } from "./byte-budget.ts";

/** Bytes per block: a block ends at a newline, so a block is whole lines. */
export const FILE_BLOCK_BYTES = 16 * 1024 * 1024;
/** The largest slice handed out at once. */
export const MAX_SLICE_BYTES = 64 * 1024 * 1024;
/**
 * Bytes that guest reads of file contexts (context.slice, context.block) may have in flight at once, over the
 * whole process; more reads wait. Each byte read is held about three times while in flight (the bytes, then
 * the decoded text, up to two bytes a character), so this budget holds the host's memory for reads near 768 MiB.
 */
export const HOST_READ_BUDGET_BYTES = 256 * 1024 * 1024;
const NEWLINE_SEARCH_BYTES = 1024 * 1024;

const processReadBudget = new ByteBudget(HOST_READ_BUDGET_BYTES);

export interface FileTextOptions {
  /** The budget guest reads wait on (default: one budget of HOST_READ_BUDGET_BYTES for the whole process). */
  readBudget?: ByteBudget;
}

/** An offset given by the caller: a number (clamped to the file), or the default when absent. */
function toOffset(value: unknown, fallback: number, name: string): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value !== "number" || Number.isNaN(value)) {
    throw new TypeError(`context.slice(start, end): ${name} must be a number of bytes, not ${String(value)}`);
  }
  return Math.floor(value);
}

/** Reads `buffer.length` bytes at `position` without blocking the event loop; fewer at the end of the file. */
function readFullyAsync(fd: number, buffer: Buffer, position: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const step = (done: number) => {
      if (done >= buffer.length) return resolve(done);
      read(fd, buffer, done, buffer.length - done, position + done, (error, count) => {
        if (error) reject(error);
        else if (count === 0) resolve(done);
        else step(done + count);
      });
    };
    step(0);
  });
}

/**
 * A text file too large for one JavaScript string (V8 stops near 512 MB), read on demand: slices, blocks of
 * whole lines, and grep that streams through the file. Offsets are byte offsets. Memory stays flat.
 * The guest reaches it through `readAsync`, `blockAsync` and `grep`, which wait on a read budget or run in a
 * worker with a deadline; `read` and `block` are for the host's own sequential use.
 */
export class FileText {
  readonly path: string;
  readonly size: number;
  /** Byte offsets where blocks start; the last block ends at `size`. */
  readonly blockStarts: number[];
  private readonly fd: number;
  private readonly readBudget: ByteBudget;
  private searcher: GrepWorker | undefined;

  constructor(path: string, blockBytes = FILE_BLOCK_BYTES, options: FileTextOptions = {}) {
    this.path = path;
    this.size = statSync(path).size;
    this.fd = openSync(path, "r");
    this.readBudget = options.readBudget ?? processReadBudget;
    this.blockStarts = [0];
    const probe = Buffer.alloc(NEWLINE_SEARCH_BYTES);
    for (let target = blockBytes; target < this.size; ) {
      const read = readSync(this.fd, probe, 0, probe.length, target);
      const newline = probe.subarray(0, read).indexOf(10);
      const start = newline === -1 ? target + read : target + newline + 1;
      if (start >= this.size) break;
      this.blockStarts.push(start);
      target = start + blockBytes;
    }
  }

  get blockCount(): number {
    return this.blockStarts.length;
  }

  /** Checks and clamps a byte range; refuses one over MAX_SLICE_BYTES. */
  private range(start: unknown, end: unknown): { from: number; to: number } {
    const from = Math.max(0, Math.min(this.size, toOffset(start, 0, "start")));
    const to = Math.max(from, Math.min(this.size, toOffset(end, this.size, "end")));
    if (to - from > MAX_SLICE_BYTES) {
      throw new RangeError(
        `slice of ${to - from} bytes is too large: read at most ${MAX_SLICE_BYTES} bytes at a time (use context.block(i) or grep)`,
      );
    }
    return { from, to };
  }

  /** The byte range of block `index`. */
  private blockRange(index: unknown): { start: number; end: number } {
    const start = Number.isInteger(index) ? this.blockStarts[index as number] : undefined;
    if (start === undefined) {
      throw new RangeError(
        `block ${String(index)} does not exist: the file has blocks 0 to ${this.blockCount - 1}`,
      );
    }
    return { start, end: this.blockStarts[(index as number) + 1] ?? this.size };
  }

  /** The bytes [start, end) as text (UTF-8), read on the calling thread. */
  read(start = 0, end = this.size): string {
    const { from, to } = this.range(start, end);
    const buffer = Buffer.alloc(to - from);
    let done = 0;
    while (done < buffer.length) {
      const read = readSync(this.fd, buffer, done, buffer.length - done, from + done);
      if (read === 0) break;
      done += read;
    }
    return buffer.toString("utf8", 0, done);
  }

  /**
   * The bytes [start, end) as text, read without blocking the event loop, once the read budget has room:
   * however many reads the guest starts at once, the bytes in flight stay within the budget.
   */
  async readAsync(start: unknown = 0, end: unknown = this.size): Promise<string> {
    const { from, to } = this.range(start, end);
    const release = await this.readBudget.acquire(to - from, `a read of ${to - from} bytes`);
    try {
      const buffer = Buffer.allocUnsafe(to - from);
      const done = await readFullyAsync(this.fd, buffer, from);
      return buffer.toString("utf8", 0, done);
    } finally {
      // Give the bytes back after the sandbox has had its turn to copy the text into the guest.
      setImmediate(release);
    }
  }

  /** Block `index` (0-based): whole lines, about FILE_BLOCK_BYTES long. */
  block(index: number): string {
    const { start, end } = this.blockRange(index);
    return this.read(start, end);
  }

  /** Block `index`, read like `readAsync`. */
  async blockAsync(index: unknown): Promise<string> {
    const { start, end } = this.blockRange(index);
    return this.readAsync(start, end);
  }

  /**
   * Streams through the file block by block in a worker thread; matches carry file-wide line numbers and byte
   * offsets. Fails with a clear error (naming how far it got) when it runs past `limits.timeoutMs`
   * (default 10 s). With `options.text` it searches that text instead.
   */
  async grep(
    pattern: string,
    options: GrepOptions = {},
    limits: { timeoutMs?: number } = {},
  ): Promise<GrepMatch[]> {
    const { query, text } = checkGrepCall(pattern, options);
    const timeoutMs = checkTimeoutMs(limits.timeoutMs);
    this.searcher ??= new GrepWorker();
    const file = { path: this.path, size: this.size, blockStarts: this.blockStarts };
    return this.searcher.run(
      text === undefined ? { kind: "file", query, file } : { kind: "text", query, text },
      timeoutMs,
    );
  }

  close(): void {
    this.searcher?.close();
    closeSync(this.fd);
  }
}
