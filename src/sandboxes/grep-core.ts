/**
 * The matching behind `grep`: option checks, the regular expression, and a scan whose own work is linear in
 * the text (line numbers and byte offsets are tracked forward, never searched for again per match) and whose
 * results are capped. The regular expression itself may still be slow: guest calls run this in a worker with
 * a deadline (grep-worker.ts). Nothing here imports the rest of rlmkit, so the worker loads little.
 */
import { closeSync, openSync, readSync } from "node:fs";

/** A document of a list context. */
export interface Document {
  id: string;
  text: string;
}

/** What grep searches when no text is given: the context as one text, or its documents. */
export type Corpus = string | Document[];

export interface GrepOptions {
  /** Regular-expression flags besides `g` (e.g. `i`, `m`, `s`, `u`). */
  flags?: string;
  /** Treat the pattern as plain text, not a regular expression. */
  fixed?: boolean;
  /** Stop after this many matches (default 1,000, at most 10,000). */
  maxMatches?: number;
  /** Search this text instead of the context. */
  text?: string;
}

export interface GrepMatch {
  /** Id of the document (list contexts only). */
  document?: string;
  /** 1-based line number. */
  line: number;
  /** Character offset of the match in its text (byte offset in a file context). */
  offset: number;
  /** The matched text, cut to 1,000 characters. */
  match: string;
  /** Present when `match` was cut. */
  truncated?: true;
  /** The line, or for a line over 500 characters the 500 characters around the match. */
  lineText: string;
}

export const DEFAULT_MAX_MATCHES = 1_000;
/** The hard upper bound on maxMatches. */
export const MAX_MATCHES_LIMIT = 10_000;
export const MAX_MATCH_CHARS = 1_000;
export const MAX_LINE_CHARS = 500;
/** Characters of `match` plus `lineText` over all matches; past it, grep stops as it does at maxMatches. */
export const MAX_RESULT_CHARS = 8_000_000;
export const MAX_PATTERN_CHARS = 100_000;
/** The largest `options.text` grep takes (V8 strings stop near 512 Mi characters). */
export const MAX_GREP_TEXT_CHARS = 256 * 1024 * 1024;
/** Characters of a long line shown before the match in `lineText`. */
const LINE_CHARS_BEFORE_MATCH = 100;
const ALLOWED_FLAGS = /^[dimsuv]*$/;

/** A checked grep call, as plain data that can be posted to a worker. */
export interface GrepQuery {
  pattern: string;
  flags: string;
  fixed: boolean;
  maxMatches: number;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function checkMaxMatches(value: unknown): number {
  if (value === undefined || value === null) return DEFAULT_MAX_MATCHES;
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0 || value > MAX_MATCHES_LIMIT) {
    throw new RangeError(
      `grep: maxMatches must be a number from 0 to ${MAX_MATCHES_LIMIT}, not ${String(value)}: narrow the pattern or search the text in parts to see more`,
    );
  }
  return Math.floor(value);
}

function checkFlags(value: unknown): string {
  if (value === undefined || value === null) return "";
  if (typeof value !== "string") throw new TypeError("grep: flags must be a string such as 'i' or 'im'");
  const flags = value.replace(/[gy]/g, "");
  if (!ALLOWED_FLAGS.test(flags) || flags.length > 6) {
    throw new SyntaxError(`grep: invalid flags "${value.slice(0, 20)}": use any of d, i, m, s, u, v`);
  }
  return flags;
}

/** Checks the guest's pattern and options; throws clear errors for anything malformed or unbounded. */
export function checkGrepCall(pattern: unknown, options: unknown): { query: GrepQuery; text?: string } {
  if (typeof pattern !== "string" || pattern === "") {
    throw new TypeError("grep(pattern): the pattern must be a non-empty string");
  }
  if (pattern.length > MAX_PATTERN_CHARS) {
    throw new RangeError(
      `grep: the pattern is too long (${pattern.length} characters; at most ${MAX_PATTERN_CHARS})`,
    );
  }
  // A string in place of the options is the flags: Python's grep(pattern, "i") reads that way.
  const given = typeof options === "string" ? { flags: options } : (options ?? {});
  if (!isPlainObject(given)) {
    throw new TypeError(
      "grep(pattern, options): options must be an object such as { flags: 'i', maxMatches: 100 }",
    );
  }
  const query: GrepQuery = {
    pattern,
    flags: checkFlags(given.flags),
    fixed: Boolean(given.fixed),
    maxMatches: checkMaxMatches(given.maxMatches),
  };
  compilePattern(query); // a syntax error surfaces here, before any worker is involved
  const text = given.text;
  if (text === undefined || text === null) return { query };
  if (typeof text !== "string") throw new TypeError("grep: options.text must be a string");
  if (text.length > MAX_GREP_TEXT_CHARS) {
    throw new RangeError(
      `grep: options.text is too long (${text.length} characters; at most ${MAX_GREP_TEXT_CHARS})`,
    );
  }
  return { query, text };
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The global regular expression a query runs. */
export function compilePattern(query: GrepQuery): RegExp {
  return new RegExp(query.fixed ? escapeRegExp(query.pattern) : query.pattern, `${query.flags}g`);
}

/** Collects matches up to maxMatches and MAX_RESULT_CHARS. */
export class MatchCollector {
  readonly matches: GrepMatch[] = [];
  private readonly maxMatches: number;
  private resultChars = 0;

  constructor(maxMatches: number) {
    this.maxMatches = maxMatches;
  }

  get full(): boolean {
    return this.matches.length >= this.maxMatches || this.resultChars >= MAX_RESULT_CHARS;
  }

  add(match: GrepMatch): void {
    if (this.full) return;
    this.resultChars += match.match.length + match.lineText.length;
    if (this.resultChars > MAX_RESULT_CHARS) return;
    this.matches.push(match);
  }
}

/**
 * The line around a position, tracked forward: each newline of the text is looked at once over a whole scan,
 * so a text with no newlines (or a match on every character) costs linear time, not a scan per match.
 */
class LineCursor {
  line: number;
  private start = 0;
  private end: number;
  private readonly text: string;

  constructor(text: string, firstLine: number) {
    this.text = text;
    this.line = firstLine;
    this.end = this.lineEndFrom(0);
  }

  private lineEndFrom(from: number): number {
    const newline = this.text.indexOf("\n", from);
    return newline === -1 ? this.text.length : newline;
  }

  /** Moves to the line holding `index` (positions only grow during a scan). */
  moveTo(index: number): void {
    while (index > this.end && this.end < this.text.length) {
      this.start = this.end + 1;
      this.end = this.lineEndFrom(this.start);
      this.line++;
    }
  }

  /** The current line, or MAX_LINE_CHARS of it around `index` when it is longer. */
  textAround(index: number): string {
    if (this.end - this.start <= MAX_LINE_CHARS) return this.text.slice(this.start, this.end);
    const from = Math.max(this.start, Math.min(index - LINE_CHARS_BEFORE_MATCH, this.end - MAX_LINE_CHARS));
    return this.text.slice(from, from + MAX_LINE_CHARS);
  }
}

/** UTF-8 bytes of text[from, to), as Buffer.byteLength counts them (a lone surrogate is 3 bytes). */
function utf8Length(text: string, from: number, to: number): number {
  let bytes = 0;
  for (let index = from; index < to; index++) {
    const code = text.charCodeAt(index);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code < 0xdc00 && index + 1 < to) {
      const next = text.charCodeAt(index + 1);
      if (next >= 0xdc00 && next < 0xe000) {
        bytes += 4;
        index++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** Byte offsets of character positions, tracked forward like lines. */
class ByteCursor {
  private position = 0;
  private bytes: number;
  private readonly text: string;

  constructor(text: string, byteBase: number) {
    this.text = text;
    this.bytes = byteBase;
  }

  offsetOf(index: number): number {
    this.bytes += utf8Length(this.text, this.position, index);
    this.position = index;
    return this.bytes;
  }
}

/** Where a searched text sits: its document, the line it starts on, and (for files) its byte offset. */
export interface TextPosition {
  document?: string;
  firstLine?: number;
  /** When set, offsets are byte offsets (UTF-8) counted from here instead of character offsets. */
  byteBase?: number;
}

/** Adds the matches of `regex` in `text` to `collector` until it is full. */
export function grepText(
  text: string,
  regex: RegExp,
  collector: MatchCollector,
  position: TextPosition = {},
): void {
  if (collector.full) return;
  const lines = new LineCursor(text, position.firstLine ?? 1);
  const bytes = position.byteBase === undefined ? undefined : new ByteCursor(text, position.byteBase);
  const document = position.document === undefined ? {} : { document: position.document };
  // matchAll steps past an empty match by one character (one code point with u/v): O(1) per step.
  for (const found of text.matchAll(regex)) {
    const index = found.index;
    lines.moveTo(index);
    const whole = found[0];
    const cut = whole.length > MAX_MATCH_CHARS;
    collector.add({
      ...document,
      line: lines.line,
      offset: bytes === undefined ? index : bytes.offsetOf(index),
      match: cut ? whole.slice(0, MAX_MATCH_CHARS) : whole,
      ...(cut ? { truncated: true as const } : {}),
      lineText: lines.textAround(index),
    });
    if (collector.full) return;
  }
}

/** Normalises a list context to documents with ids. */
export function toDocuments(list: unknown[]): Document[] {
  return list.map((item, index) =>
    typeof item === "string"
      ? { id: String(index), text: item }
      : {
          id: String((item as { id?: unknown }).id ?? index),
          text: String((item as { text?: unknown }).text ?? ""),
        },
  );
}

/** The form grep searches a context in: a string, documents, or other JSON as its text. */
export function toCorpus(context: unknown): Corpus {
  if (typeof context === "string") return context;
  if (Array.isArray(context)) return toDocuments(context);
  return JSON.stringify(context) ?? "";
}

/** Characters in a corpus (to size the worker's heap). */
export function corpusChars(corpus: Corpus): number {
  if (typeof corpus === "string") return corpus.length;
  return corpus.reduce((sum, document) => sum + document.text.length + document.id.length, 0);
}

/** Matches of a query in a corpus; each document's matches carry its id. */
export function grepCorpus(corpus: Corpus, query: GrepQuery): GrepMatch[] {
  const regex = compilePattern(query);
  const collector = new MatchCollector(query.maxMatches);
  if (typeof corpus === "string") grepText(corpus, regex, collector);
  else for (const document of corpus) grepText(document.text, regex, collector, { document: document.id });
  return collector.matches;
}

/** A file context as grep sees it: blocks of whole lines at byte offsets. */
export interface FileBlocks {
  path: string;
  size: number;
  blockStarts: number[];
}

function countNewlines(bytes: Buffer): number {
  let count = 0;
  for (let at = bytes.indexOf(10); at !== -1; at = bytes.indexOf(10, at + 1)) count++;
  return count;
}

function readFully(fd: number, buffer: Buffer, length: number, position: number): number {
  let done = 0;
  while (done < length) {
    const read = readSync(fd, buffer, done, length - done, position + done);
    if (read === 0) break;
    done += read;
  }
  return done;
}

/**
 * Streams through a file block by block (one block in memory at a time); matches carry file-wide line numbers
 * and byte offsets. `onBlock` hears after each block, so a caller that stops the scan knows how far it got.
 */
export function grepFile(file: FileBlocks, query: GrepQuery, onBlock: (done: number) => void): GrepMatch[] {
  const regex = compilePattern(query);
  const collector = new MatchCollector(query.maxMatches);
  const ends = [...file.blockStarts.slice(1), file.size];
  const largest = Math.max(0, ...ends.map((end, index) => end - (file.blockStarts[index] ?? 0)));
  const buffer = Buffer.allocUnsafe(largest);
  const fd = openSync(file.path, "r");
  try {
    let linesBefore = 0;
    for (let index = 0; index < file.blockStarts.length && !collector.full; index++) {
      const start = file.blockStarts[index] ?? 0;
      const length = readFully(fd, buffer, (ends[index] ?? start) - start, start);
      const bytes = buffer.subarray(0, length);
      grepText(bytes.toString("utf8"), regex, collector, { firstLine: linesBefore + 1, byteBase: start });
      linesBefore += countNewlines(bytes);
      onBlock(index + 1);
    }
  } finally {
    closeSync(fd);
  }
  return collector.matches;
}
