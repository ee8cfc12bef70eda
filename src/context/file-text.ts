import { closeSync, openSync, readSync, statSync } from "node:fs";
import { type GrepMatch, type GrepOptions, grepPattern, grepText } from "../sandboxes/host-helpers.ts";

/** Bytes per block: a block ends at a newline, so a block is whole lines. */
export const FILE_BLOCK_BYTES = 16 * 1024 * 1024;
/** The largest slice handed out at once. */
export const MAX_SLICE_BYTES = 64 * 1024 * 1024;
const NEWLINE_SEARCH_BYTES = 1024 * 1024;

/**
 * A text file too large for one JavaScript string (V8 stops near 512 MB), read on demand: slices, blocks of
 * whole lines, and grep that streams through the file. Offsets are byte offsets. Memory stays flat.
 */
export class FileText {
  readonly path: string;
  readonly size: number;
  /** Byte offsets where blocks start; the last block ends at `size`. */
  readonly blockStarts: number[];
  private readonly fd: number;

  constructor(path: string, blockBytes = FILE_BLOCK_BYTES) {
    this.path = path;
    this.size = statSync(path).size;
    this.fd = openSync(path, "r");
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

  /** The bytes [start, end) as text (UTF-8). */
  read(start = 0, end = this.size): string {
    const from = Math.max(0, Math.min(this.size, Math.floor(start)));
    const to = Math.max(from, Math.min(this.size, Math.floor(end)));
    if (to - from > MAX_SLICE_BYTES) {
      throw new RangeError(
        `slice of ${to - from} bytes is too large: read at most ${MAX_SLICE_BYTES} bytes at a time (use context.block(i) or grep)`,
      );
    }
    const buffer = Buffer.alloc(to - from);
    let done = 0;
    while (done < buffer.length) {
      const read = readSync(this.fd, buffer, done, buffer.length - done, from + done);
      if (read === 0) break;
      done += read;
    }
    return buffer.toString("utf8", 0, done);
  }

  /** Block `index` (0-based): whole lines, about FILE_BLOCK_BYTES long. */
  block(index: number): string {
    const start = this.blockStarts[index];
    if (start === undefined) {
      throw new RangeError(`block ${index} does not exist: the file has blocks 0 to ${this.blockCount - 1}`);
    }
    return this.read(start, this.blockStarts[index + 1] ?? this.size);
  }

  /** Streams through the file block by block; matches carry file-wide line numbers and byte offsets. */
  grep(pattern: string, options: GrepOptions = {}): GrepMatch[] {
    const regex = grepPattern(pattern, options);
    const limit = options.maxMatches ?? 1000;
    const matches: GrepMatch[] = [];
    let linesBefore = 0;
    for (let index = 0; index < this.blockCount && matches.length < limit; index++) {
      const text = this.block(index);
      grepText(text, regex, limit, matches, {
        firstLine: linesBefore + 1,
        byteBase: this.blockStarts[index] ?? 0,
      });
      for (let newline = text.indexOf("\n"); newline !== -1; newline = text.indexOf("\n", newline + 1))
        linesBefore++;
    }
    return matches;
  }

  close(): void {
    closeSync(this.fd);
  }
}
