/**
 * `chunk`: splits text into pieces of characters, lines or tokens, with overlap. What a call would build is
 * computed first and refused when it passes the bounds, so a tiny step over a large text (size 10, overlap 9)
 * fails at once with a clear error instead of building millions of strings on the host.
 */
import { decodeTokens, encodeBounded } from "./token-count.ts";

export interface ChunkOptions {
  /** Chunk size in the unit of `by` (default 100,000 chars, 2,000 lines or 25,000 tokens). */
  size?: number;
  /** Overlap between consecutive chunks, in the same unit (default 0). */
  overlap?: number;
  by?: "chars" | "lines" | "tokens";
}

type ChunkUnit = NonNullable<ChunkOptions["by"]>;

const DEFAULT_CHUNK_SIZE = { chars: 100_000, lines: 2_000, tokens: 25_000 } as const;
/** Most pieces one call returns. */
export const MAX_CHUNK_PIECES = 100_000;
/** Most characters one call returns: 8 times its input, at least 16 Mi and at most 256 Mi characters. */
export const MIN_CHUNK_OUTPUT_CHARS = 16 * 1024 * 1024;
export const MAX_CHUNK_OUTPUT_CHARS = 256 * 1024 * 1024;
const OUTPUT_PER_INPUT = 8;
/** Chunking by tokens tokenizes the whole text on the host's thread: this caps one call at about 1 s even for dense text (CJK). */
export const MAX_TOKEN_CHUNK_CHARS = 512 * 1024;

/** A checked chunk call: unit, size and overlap as whole numbers. */
interface ChunkShape {
  by: ChunkUnit;
  size: number;
  overlap: number;
}

/** What a call would return, known before building it. */
interface ChunkPlan {
  pieces: number;
  /** Characters over all pieces (an upper bound when the unit is not characters). */
  chars: number;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Checks the guest's options: a known unit, a positive size (Infinity means one piece), 0 <= overlap < size. */
export function checkChunkOptions(options: unknown): ChunkShape {
  if (options !== undefined && options !== null && !isPlainObject(options)) {
    throw new TypeError(
      'chunk(text, options): options must be an object such as { size: 1000, by: "lines" }',
    );
  }
  const given = options ?? {};
  const by = given.by ?? "chars";
  if (typeof by !== "string" || !Object.hasOwn(DEFAULT_CHUNK_SIZE, by)) {
    throw new TypeError(`chunk: "by" must be "chars", "lines" or "tokens", not ${JSON.stringify(by)}`);
  }
  const unit = by as ChunkUnit;
  const size = given.size ?? DEFAULT_CHUNK_SIZE[unit];
  if (typeof size !== "number" || Number.isNaN(size) || size < 1) {
    throw new TypeError(`chunk: size must be a number of at least 1, not ${String(size)}`);
  }
  const overlap = given.overlap ?? 0;
  if (typeof overlap !== "number" || !Number.isFinite(overlap) || overlap < 0 || overlap >= size) {
    throw new TypeError(
      `chunk: overlap must be a number from 0 to below size (${size}), not ${String(overlap)}`,
    );
  }
  // A size beyond any text (1e308, Infinity) is one piece; capping it keeps the arithmetic exact.
  return {
    by: unit,
    size: Math.floor(Math.min(size, Number.MAX_SAFE_INTEGER)),
    overlap: Math.floor(overlap),
  };
}

/** Pieces that windows of `size` stepping by `size - overlap` make over `count` items. */
function pieceCount(count: number, shape: ChunkShape): number {
  if (count === 0) return 0;
  if (count <= shape.size) return 1;
  return Math.ceil((count - shape.size) / (shape.size - shape.overlap)) + 1;
}

/** How many pieces each item lands in at most. */
function copiesPerItem(shape: ChunkShape): number {
  return Math.ceil(shape.size / (shape.size - shape.overlap));
}

function planChars(length: number, shape: ChunkShape): ChunkPlan {
  const pieces = pieceCount(length, shape);
  if (pieces <= 1) return { pieces, chars: length };
  const step = shape.size - shape.overlap;
  const lastStart = (pieces - 1) * step;
  return { pieces, chars: (pieces - 1) * shape.size + (length - lastStart) };
}

/** Plan over `items` lines or tokens of a text of `length` characters. */
function planItems(items: number, length: number, shape: ChunkShape): ChunkPlan {
  const pieces = pieceCount(items, shape);
  return { pieces, chars: pieces <= 1 ? length : length * Math.min(pieces, copiesPerItem(shape)) };
}

/** Refuses a plan (for one text or a whole list) that passes the bounds, saying how to fix the call. */
export function checkChunkPlan(plan: ChunkPlan, inputChars: number, shape: ChunkShape): void {
  const fix = `use a bigger size or a smaller overlap (now size ${shape.size}, overlap ${shape.overlap}, by "${shape.by}")`;
  if (plan.pieces > MAX_CHUNK_PIECES) {
    throw new RangeError(
      `chunk would make ${plan.pieces} pieces, more than the ${MAX_CHUNK_PIECES} pieces one call may return: ${fix}`,
    );
  }
  const limit = Math.min(
    MAX_CHUNK_OUTPUT_CHARS,
    Math.max(MIN_CHUNK_OUTPUT_CHARS, OUTPUT_PER_INPUT * inputChars),
  );
  if (plan.chars > limit) {
    throw new RangeError(
      `chunk would return ${plan.chars} characters from ${inputChars}, more than the ${limit} characters one call may return: ${fix}`,
    );
  }
}

/** Lines as `split(/(?<=\n)/)` makes them (each keeps its newline), counted without building them. */
function lineCount(text: string): number {
  let count = 0;
  for (let at = text.indexOf("\n"); at !== -1; at = text.indexOf("\n", at + 1)) count++;
  return text.endsWith("\n") ? count : count + 1;
}

/** Builds `pieces` windows: piece i covers units [i * step, i * step + size). */
function windowsOver(
  pieces: number,
  shape: ChunkShape,
  build: (first: number, end: number) => string,
): string[] {
  const step = shape.size - shape.overlap;
  const out: string[] = [];
  for (let index = 0; index < pieces; index++) out.push(build(index * step, index * step + shape.size));
  return out;
}

function chunkChars(text: string, shape: ChunkShape, pieces: number): string[] {
  return windowsOver(pieces, shape, (first, end) => text.slice(first, end));
}

/**
 * Cuts by lines in one pass, remembering only where each piece starts and ends (never an array of every line,
 * which for a text of empty lines would be one entry per character).
 */
function chunkLines(text: string, shape: ChunkShape, lines: number, pieces: number): string[] {
  const step = shape.size - shape.overlap;
  const starts: number[] = [];
  const ends: number[] = [];
  const endLine = (piece: number) => Math.min(piece * step + shape.size, lines);
  let offset = 0;
  for (let line = 0; line <= lines; line++) {
    while (starts.length < pieces && starts.length * step === line) starts.push(offset);
    while (ends.length < pieces && endLine(ends.length) === line) ends.push(offset);
    if (line < lines) {
      const newline = text.indexOf("\n", offset);
      offset = newline === -1 ? text.length : newline + 1;
    }
  }
  return starts.map((start, index) => text.slice(start, ends[index]));
}

function chunkTokens(tokens: number[], shape: ChunkShape, pieces: number): string[] {
  return windowsOver(pieces, shape, (first, end) => decodeTokens(tokens.slice(first, end)));
}

/** One text ready to cut: its plan, and how to build it once the plan is accepted. */
interface PreparedChunk {
  plan: ChunkPlan;
  build: () => string[];
}

function prepare(text: string, shape: ChunkShape): PreparedChunk {
  if (shape.by === "chars") {
    const plan = planChars(text.length, shape);
    return { plan, build: () => chunkChars(text, shape, plan.pieces) };
  }
  if (shape.by === "lines") {
    const lines = text.length === 0 ? 0 : lineCount(text);
    const plan = planItems(lines, text.length, shape);
    return { plan, build: () => chunkLines(text, shape, lines, plan.pieces) };
  }
  const tokens = encodeBounded(text);
  const plan = planItems(tokens.length, text.length, shape);
  return { plan, build: () => chunkTokens(tokens, shape, plan.pieces) };
}

/**
 * Splits each text into chunks of characters, lines or tokens, with optional overlap, as one call: the bounds
 * (MAX_CHUNK_PIECES pieces, and characters relative to the input) hold over all the texts together.
 */
export function chunkAll(texts: string[], options: unknown): string[] {
  const shape = checkChunkOptions(options);
  let inputChars = 0;
  for (const text of texts) inputChars += text.length;
  if (shape.by === "tokens" && inputChars > MAX_TOKEN_CHUNK_CHARS) {
    throw new RangeError(
      `chunk by tokens takes at most ${MAX_TOKEN_CHUNK_CHARS} characters per call, not ${inputChars}: chunk by "chars" first (about 4 characters a token) and split those pieces by tokens if needed`,
    );
  }
  const prepared: PreparedChunk[] = [];
  const total: ChunkPlan = { pieces: 0, chars: 0 };
  for (const text of texts) {
    const next = prepare(text, shape);
    total.pieces += next.plan.pieces;
    total.chars += next.plan.chars;
    checkChunkPlan(total, inputChars, shape);
    prepared.push(next);
  }
  return prepared.flatMap((next) => next.build());
}

/** Splits a text into chunks of characters, lines or tokens, with optional overlap. */
export function chunk(text: string, options: ChunkOptions = {}): string[] {
  if (typeof text !== "string") throw new TypeError("chunk(text, options): text must be a string");
  return chunkAll([text], options);
}
