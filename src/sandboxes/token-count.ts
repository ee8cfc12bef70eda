/**
 * Token counting and encoding with the o200k tokenizer (gpt-tokenizer), with bounded work on any text.
 *
 * gpt-tokenizer first splits text into pre-tokens (words, numbers, runs of punctuation or whitespace), then runs
 * byte-pair merging on each; that merging costs the square of the pre-token's length, so 600,000 copies of one
 * letter (one pre-token) take minutes. Here the text is split at the same pre-token boundaries, which leaves the
 * count unchanged, and a pre-token longer than MAX_PRETOKEN_CHARS is cut into pieces of that length: only such
 * runs (a long run of one letter, a long base64 word) are counted approximately, within about a token per cut.
 */
import { createRequire } from "node:module";

type Tokenizer = typeof import("gpt-tokenizer");

const require = createRequire(import.meta.url);
let tokenizer: Tokenizer | undefined;
let splitRegex: RegExp | undefined;

/** The o200k tokenizer, loaded on first use (its tables take ~130 ms to load). */
export function loadTokenizer(): Tokenizer {
  tokenizer ??= require("gpt-tokenizer") as Tokenizer;
  return tokenizer;
}

/** The tokenizer's own pre-token pattern, so our cuts fall where its own splits do. */
function preTokenPattern(): RegExp {
  splitRegex ??= (require("gpt-tokenizer/encodingParams/constants") as { O200K_TOKEN_SPLIT_REGEX: RegExp })
    .O200K_TOKEN_SPLIT_REGEX;
  return splitRegex;
}

/** Special tokens such as `<|endoftext|>` are counted as plain text instead of throwing. */
export const AS_TEXT = { disallowedSpecial: new Set<string>() };

/** Longest pre-token handed to byte-pair merging whole; longer ones are cut (merging costs length squared). */
export const MAX_PRETOKEN_CHARS = 128;
/** Texts up to this long are counted in full; longer ones are estimated from samples. */
/**
 * Texts up to this length are counted in full: at most about 0.8 s of the host's thread even for dense text
 * (CJK, punctuation), which is what one guest call may cost. Longer texts are estimated.
 */
export const EXACT_TOKEN_COUNT_CHARS = 250_000;
const SAMPLE_COUNT = 32;
const SAMPLE_CHARS = 16_384;

/** Cuts `text` into pieces of at most `size` characters without splitting a surrogate pair. */
function* cutEvery(text: string, size: number): Generator<string> {
  for (let start = 0; start < text.length; ) {
    let end = Math.min(text.length, start + size);
    const last = text.charCodeAt(end - 1);
    if (end < text.length && last >= 0xd800 && last < 0xdc00) end--;
    yield text.slice(start, end);
    start = end;
  }
}

/**
 * Consecutive pieces of `text` whose tokens, encoded piece by piece, are the tokens of the whole text, except
 * inside pre-tokens longer than MAX_PRETOKEN_CHARS, which come in pieces of that length.
 */
function* boundedPieces(text: string): Generator<string> {
  let pending = 0;
  for (const found of text.matchAll(preTokenPattern())) {
    const preToken = found[0];
    if (preToken.length <= MAX_PRETOKEN_CHARS) continue;
    if (found.index > pending) yield text.slice(pending, found.index);
    yield* cutEvery(preToken, MAX_PRETOKEN_CHARS);
    pending = found.index + preToken.length;
  }
  if (pending < text.length) yield pending === 0 ? text : text.slice(pending);
}

/** Whether a UTF-16 code unit is whitespace as the regular-expression class \s defines it. */
function isSpace(code: number): boolean {
  if (code < 0x80) return code === 0x20 || (code >= 0x09 && code <= 0x0d);
  return (
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  );
}

/**
 * Whether `text` may hold a pre-token over MAX_PRETOKEN_CHARS: only a run of that many non-space or space
 * characters can make one. Without such a run every pre-token stays short (a few hundred characters at most)
 * and the tokenizer can take the text whole, at its own speed. One pass over the text.
 */
function hasLongRun(text: string): boolean {
  let run = 0;
  let spaces = false;
  for (let index = 0; index < text.length; index++) {
    const space = isSpace(text.charCodeAt(index));
    run = space === spaces ? run + 1 : 1;
    spaces = space;
    if (run >= MAX_PRETOKEN_CHARS) return true;
  }
  return false;
}

/** Tokens of `text`, in time linear in its length (see the module comment for the one approximation). */
export function countTokensInFull(text: string): number {
  const { countTokens } = loadTokenizer();
  if (!hasLongRun(text)) return countTokens(text, AS_TEXT);
  let count = 0;
  for (const piece of boundedPieces(text)) count += countTokens(piece, AS_TEXT);
  return count;
}

/** Token ids of `text`, in time linear in its length; decoding them gives `text` back. */
export function encodeBounded(text: string): number[] {
  const { encode } = loadTokenizer();
  if (!hasLongRun(text)) return encode(text, AS_TEXT);
  const tokens: number[] = [];
  for (const piece of boundedPieces(text)) {
    for (const token of encode(piece, AS_TEXT)) tokens.push(token);
  }
  return tokens;
}

/** The text of token ids. */
export function decodeTokens(tokens: number[]): string {
  return loadTokenizer().decode(tokens);
}

/** Start of a sample near `at`: just after the next space, so the sample does not begin mid-word. */
function sampleStart(text: string, at: number): number {
  // Look only a little way: a search to the end of a text without spaces would cost its length per sample.
  const space = text.slice(at, at + 256).indexOf(" ");
  return space === -1 ? at : at + space + 1;
}

/** Tokens estimated from SAMPLE_COUNT evenly spaced samples: tokens per character times the length. */
function estimateTokens(text: string): number {
  let sampledChars = 0;
  let sampledTokens = 0;
  const stride = (text.length - SAMPLE_CHARS) / (SAMPLE_COUNT - 1);
  for (let index = 0; index < SAMPLE_COUNT; index++) {
    const start = sampleStart(text, Math.floor(index * stride));
    const sample = text.slice(start, start + SAMPLE_CHARS);
    sampledChars += sample.length;
    sampledTokens += countTokensInFull(sample);
  }
  return Math.round((sampledTokens / Math.max(1, sampledChars)) * text.length);
}

/**
 * Tokens of `text` (o200k). Up to EXACT_TOKEN_COUNT_CHARS characters the count is the tokenizer's own, except
 * that runs of over MAX_PRETOKEN_CHARS characters without a break are counted in pieces (about one token more
 * per cut); longer texts are estimated from 32 evenly spaced samples of 16,384 characters (1.0% under on 2.5 MB
 * of English documentation; more on mixed text). The work is bounded either way: a quarter of a million characters at most.
 */
export function countTokens(text: string): number {
  return text.length <= EXACT_TOKEN_COUNT_CHARS ? countTokensInFull(text) : estimateTokens(text);
}
