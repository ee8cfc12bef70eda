/**
 * The REPL helpers that run on the host at native speed: `grep`, `chunk` and `count_tokens`. Guest code may be
 * hostile, so each one has a budget: grep runs in a worker thread with a deadline and a heap limit and returns
 * capped results; chunk refuses, before building anything, a call that would return too many pieces or
 * characters; count_tokens does bounded work on any text.
 */
import type { HostFunction } from "../spec/sandbox.ts";
import { chunkAll } from "./chunk-text.ts";
import {
  checkGrepCall,
  type Document,
  type GrepMatch,
  type GrepOptions,
  grepCorpus,
  toCorpus,
  toDocuments,
} from "./grep-core.ts";
import { checkTimeoutMs, GrepWorker } from "./grep-runner.ts";
import { countTokens } from "./token-count.ts";

export { type ChunkOptions, chunk } from "./chunk-text.ts";
export { DEFAULT_MAX_MATCHES, MAX_MATCHES_LIMIT, toDocuments } from "./grep-core.ts";
export { DEFAULT_GREP_HEAP_MB, DEFAULT_GREP_TIMEOUT_MS } from "./grep-runner.ts";
export { countTokens } from "./token-count.ts";
export type { Document, GrepMatch, GrepOptions };

/** Budgets of the host helpers. */
export interface HostHelperOptions {
  /** Time one grep call may run, in ms (default 10,000); past it the call fails with a clear error. */
  grepTimeoutMs?: number;
  /** Heap of the grep worker besides its copy of the context, in MiB (default 256). */
  grepHeapMb?: number;
}

/**
 * Finds matches of a pattern in a string, in every document of a list, or in other JSON as text, on the
 * calling thread and without a time limit: for host code with its own patterns. Guest calls go through
 * `createHostHelpers`, which runs the same search in a worker with a deadline.
 */
export function grep(source: unknown, pattern: string, options: GrepOptions = {}): GrepMatch[] {
  const { query, text } = checkGrepCall(pattern, options);
  return grepCorpus(text ?? toCorpus(source), query);
}

/** The host helpers and the function that stops their grep worker. */
export interface HostHelpers {
  functions: Record<string, HostFunction>;
  close: () => void;
}

/** Like `createHostHelpers`, with a `close` that stops the grep worker at once instead of when idle. */
export function createClosableHostHelpers(
  getContext: () => unknown,
  options: HostHelperOptions = {},
): HostHelpers {
  const timeoutMs = checkTimeoutMs(options.grepTimeoutMs);
  const searcher = new GrepWorker(
    () => toCorpus(getContext()),
    options.grepHeapMb === undefined ? {} : { heapMb: options.grepHeapMb },
  );
  const functions: Record<string, HostFunction> = {
    grep: async (pattern, grepOptions) => {
      const { query, text } = checkGrepCall(pattern, grepOptions);
      return searcher.run(
        text === undefined ? { kind: "context", query } : { kind: "text", query, text },
        timeoutMs,
      );
    },
    chunk: (text, chunkOptions) => {
      const source = text ?? getContext();
      if (typeof source === "string") return chunkAll([source], chunkOptions);
      if (Array.isArray(source))
        return chunkAll(
          toDocuments(source).map((document) => document.text),
          chunkOptions,
        );
      throw new TypeError("chunk(text, options): text must be a string (or omitted to split the context)");
    },
    count_tokens: (text) => {
      if (typeof text !== "string") throw new TypeError("count_tokens(text): text must be a string");
      return countTokens(text);
    },
  };
  return { functions, close: () => searcher.close() };
}

/**
 * The REPL helpers over a context: `grep` over the host's copy of the context (or over a given text), `chunk`
 * and `count_tokens`. With no text, `chunk` splits the context (each document of a list). The grep worker
 * starts on the first call, copies the context once, and stops after 30 s without calls.
 */
export function createHostHelpers(
  getContext: () => unknown,
  options: HostHelperOptions = {},
): Record<string, HostFunction> {
  return createClosableHostHelpers(getContext, options).functions;
}
