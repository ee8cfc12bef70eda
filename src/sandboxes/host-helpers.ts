import { createRequire } from "node:module";
import type { HostFunction } from "../spec/sandbox.ts";

type Tokenizer = typeof import("gpt-tokenizer");
let tokenizer: Tokenizer | undefined;

/** The o200k tokenizer, loaded on first use (its tables take ~130 ms to load). */
function loadTokenizer(): Tokenizer {
  tokenizer ??= createRequire(import.meta.url)("gpt-tokenizer") as Tokenizer;
  return tokenizer;
}

/** Special tokens such as `<|endoftext|>` are counted as plain text instead of throwing. */
const AS_TEXT = { disallowedSpecial: new Set<string>() };

export function countTokens(text: string): number {
  return loadTokenizer().countTokens(text, AS_TEXT);
}

/** A document of a list context. */
export interface Document {
  id: string;
  text: string;
}

export interface GrepOptions {
  /** Regular-expression flags besides `g` (e.g. `i`, `m`, `s`, `u`). */
  flags?: string;
  /** Treat the pattern as plain text, not a regular expression. */
  fixed?: boolean;
  /** Stop after this many matches (default 1,000). */
  maxMatches?: number;
  /** Search this text instead of the context. */
  text?: string;
}

export interface GrepMatch {
  /** Id of the document (list contexts only). */
  document?: string;
  /** 1-based line number. */
  line: number;
  /** Character offset of the match in its text. */
  offset: number;
  match: string;
  /** The whole line, cut to 500 characters. */
  lineText: string;
}

const MAX_LINE_CHARS = 500;

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** The global regular expression that grep runs. */
export function grepPattern(pattern: string, options: GrepOptions = {}): RegExp {
  if (typeof pattern !== "string" || pattern === "") {
    throw new TypeError("grep(pattern): the pattern must be a non-empty string");
  }
  const flags = `${(options.flags ?? "").replace(/[gy]/g, "")}g`;
  return new RegExp(options.fixed ? escapeRegExp(pattern) : pattern, flags);
}

/** Where a searched text sits: its document, the line it starts on, and (for files) its byte offset. */
export interface TextPosition {
  document?: string;
  firstLine?: number;
  /** When set, offsets are byte offsets (UTF-8) counted from here instead of character offsets. */
  byteBase?: number;
}

/** Appends the matches of `regex` in `text` to `matches`, up to `limit` in all. */
export function grepText(
  text: string,
  regex: RegExp,
  limit: number,
  matches: GrepMatch[],
  position: TextPosition = {},
): void {
  let line = position.firstLine ?? 1;
  let counted = 0;
  let bytes = position.byteBase ?? 0;
  for (const found of text.matchAll(regex)) {
    if (matches.length >= limit) return;
    const index = found.index;
    for (let newline = text.indexOf("\n", counted); newline !== -1 && newline < index; ) {
      line++;
      newline = text.indexOf("\n", newline + 1);
    }
    if (position.byteBase !== undefined) bytes += Buffer.byteLength(text.slice(counted, index));
    counted = index;
    const lineStart = text.lastIndexOf("\n", index - 1) + 1;
    const lineEndIndex = text.indexOf("\n", index);
    const lineEnd = lineEndIndex === -1 ? text.length : lineEndIndex;
    const lineText = text.slice(lineStart, Math.min(lineEnd, lineStart + MAX_LINE_CHARS));
    const offset = position.byteBase === undefined ? index : bytes;
    const document = position.document === undefined ? {} : { document: position.document };
    matches.push({ ...document, line, offset, match: found[0], lineText });
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

/** Finds matches of a pattern in a string or in every document of a list, with line numbers and offsets. */
export function grep(source: unknown, pattern: string, options: GrepOptions = {}): GrepMatch[] {
  if (typeof pattern !== "string" || pattern === "")
    throw new TypeError("grep(pattern): the pattern must be a non-empty string");
  const flags = `${(options.flags ?? "").replace(/[gy]/g, "")}g`;
  const regex = new RegExp(options.fixed ? escapeRegExp(pattern) : pattern, flags);
  const limit = options.maxMatches ?? 1000;
  const matches: GrepMatch[] = [];
  const target = options.text ?? source;
  if (typeof target === "string") grepText(target, regex, limit, matches);
  else if (Array.isArray(target)) {
    for (const document of toDocuments(target)) {
      if (matches.length >= limit) break;
      grepText(document.text, regex, limit, matches, { document: document.id });
    }
  } else {
    grepText(JSON.stringify(target) ?? "", regex, limit, matches);
  }
  return matches;
}

export interface ChunkOptions {
  /** Chunk size in the unit of `by` (default 100,000 chars, 2,000 lines or 25,000 tokens). */
  size?: number;
  /** Overlap between consecutive chunks, in the same unit (default 0). */
  overlap?: number;
  by?: "chars" | "lines" | "tokens";
}

const DEFAULT_CHUNK_SIZE = { chars: 100_000, lines: 2_000, tokens: 25_000 } as const;

function windows<T>(items: T[] | string, size: number, overlap: number): Array<T[] | string> {
  const step = size - overlap;
  const pieces: Array<T[] | string> = [];
  for (let start = 0; start < items.length; start += step) {
    pieces.push(items.slice(start, start + size));
    if (start + size >= items.length) break;
  }
  return pieces;
}

/** Splits a text into chunks of characters, lines or tokens, with optional overlap. */
export function chunk(text: string, options: ChunkOptions = {}): string[] {
  const by = options.by ?? "chars";
  if (!(by in DEFAULT_CHUNK_SIZE))
    throw new TypeError(`chunk: "by" must be "chars", "lines" or "tokens", not "${by}"`);
  const size = Math.floor(options.size ?? DEFAULT_CHUNK_SIZE[by]);
  const overlap = Math.floor(options.overlap ?? 0);
  if (!(size > 0)) throw new TypeError("chunk: size must be a positive number");
  if (overlap < 0 || overlap >= size)
    throw new TypeError("chunk: overlap must be at least 0 and smaller than size");
  if (text.length === 0) return [];
  if (by === "chars") return windows(text, size, overlap) as string[];
  if (by === "lines") {
    const lines = text.split(/(?<=\n)/);
    return (windows(lines, size, overlap) as string[][]).map((piece) => piece.join(""));
  }
  const { encode, decode } = loadTokenizer();
  const tokens = encode(text, AS_TEXT);
  return (windows(tokens, size, overlap) as number[][]).map((piece) => decode(piece));
}

/**
 * The REPL helpers that run on the host at native speed: `grep` over the host's copy of the context (or over a
 * given text), `chunk` and `count_tokens`. With no text, `chunk` splits the context (each document of a list).
 */
export function createHostHelpers(getContext: () => unknown): Record<string, HostFunction> {
  return {
    grep: (pattern, options) => grep(getContext(), pattern as string, (options ?? {}) as GrepOptions),
    chunk: (text, options) => {
      const source = text ?? getContext();
      if (typeof source === "string") return chunk(source, (options ?? {}) as ChunkOptions);
      if (Array.isArray(source)) {
        return toDocuments(source).flatMap((document) =>
          chunk(document.text, (options ?? {}) as ChunkOptions),
        );
      }
      throw new TypeError("chunk(text, options): text must be a string (or omitted to split the context)");
    },
    count_tokens: (text) => {
      if (typeof text !== "string") throw new TypeError("count_tokens(text): text must be a string");
      return countTokens(text);
    },
  };
}
