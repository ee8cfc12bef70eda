import {
  createClosableHostHelpers,
  type GrepOptions,
  type HostHelperOptions,
} from "../sandboxes/host-helpers.ts";
import type { HostFunction } from "../spec/sandbox.ts";
import { type ContextInput, isDocumentList } from "./context-input.ts";
import { FileText } from "./file-text.ts";

/** What a sandbox needs to offer a context and the host helpers over it. */
export interface ContextBindings {
  globals: Record<string, unknown>;
  hostFunctions: Record<string, HostFunction>;
  setupCode: string[];
  /** Stops the helpers' worker thread now (it also stops by itself after 30 s without calls). */
  dispose: () => void;
}

/** Budgets of the host functions (see HostHelperOptions). */
export type BindContextOptions = HostHelperOptions;

export type GuestLanguage = "javascript" | "python";

/** Guest code that defines `context` as a handle on a file too large for one string. */
function fileContextSetup(file: FileText, language: GuestLanguage): string {
  if (language === "python") {
    return `class _FileContext:
    kind = "file"
    path = ${JSON.stringify(file.path)}
    blockCount = ${file.blockCount}
    def __len__(self):
        return ${file.size}
    def slice(self, start=0, end=${file.size}):
        return _context_read(start, end)
    def block(self, index):
        return _context_block(index)
    def __str__(self):
        raise ValueError("context is a ${file.size}-byte file, too large for one string: use context.slice(start, end), context.block(i) for i < context.blockCount, or grep(pattern)")
context = _FileContext()
context_0 = context`;
  }
  return `Object.defineProperty(globalThis, "context", { configurable: true, writable: true, enumerable: true, value: Object.freeze({
  kind: "file",
  path: ${JSON.stringify(file.path)},
  length: ${file.size},
  blockCount: ${file.blockCount},
  slice: (start = 0, end = ${file.size}) => _context_read(start, end),
  block: (index) => _context_block(index),
  toString() { throw new Error("context is a ${file.size}-byte file, too large for one string: use context.slice(start, end), context.block(i) for i < context.blockCount, or grep(pattern)"); },
}) });
globalThis.context_0 = context;`;
}

/** Guest code that adds the aliases seen in published RLM prompts: context_0 (and context_1... per document). */
function aliasSetup(context: ContextInput, language: GuestLanguage): string {
  const documents = isDocumentList(context) && context.length > 1;
  if (language === "python") {
    return documents
      ? "for _i, _d in enumerate(context):\n    globals()['context_%d' % _i] = _d['text'] if isinstance(_d, dict) else _d"
      : "context_0 = context";
  }
  return documents
    ? "context.forEach((document, index) => { globalThis['context_' + index] = typeof document === 'string' ? document : document.text })"
    : "globalThis.context_0 = context";
}

/**
 * The setup of a context in a session (RLM.session): only `context_0 = context`. There `context_1`, `context_2`...
 * name the later contexts, so a document list gets no per-document aliases (its documents are `context[i]`).
 */
export function sessionAliasSetup(language: GuestLanguage): string {
  return language === "python" ? "context_0 = context" : "globalThis.context_0 = context";
}

/**
 * Puts a context into a sandbox as `context`, with the host helpers `grep`, `chunk` and `count_tokens`.
 * A string, document list or JSON is copied in; a FileText stays on the host and the guest reads it on demand,
 * through reads that wait on the host's read budget and a grep that runs in a worker with a deadline.
 */
export function bindContext(
  context: ContextInput | FileText,
  language: GuestLanguage = "javascript",
  options: BindContextOptions = {},
): ContextBindings {
  if (!(context instanceof FileText)) {
    const helpers = createClosableHostHelpers(() => context, options);
    return {
      globals: { context },
      hostFunctions: helpers.functions,
      setupCode: [aliasSetup(context, language)],
      dispose: helpers.close,
    };
  }
  // The helpers search no context of their own: grep over the file goes to the FileText, grep over a given
  // text to the helpers' worker.
  const helpers = createClosableHostHelpers(() => "", options);
  const textGrep = helpers.functions.grep as HostFunction;
  const textChunk = helpers.functions.chunk as HostFunction;
  return {
    globals: {},
    hostFunctions: {
      ...helpers.functions,
      grep: (pattern, grepOptions) => {
        const text =
          typeof grepOptions === "object" ? (grepOptions as { text?: unknown } | null)?.text : undefined;
        if (text !== undefined && text !== null) return textGrep(pattern, grepOptions);
        const limits = options.grepTimeoutMs === undefined ? {} : { timeoutMs: options.grepTimeoutMs };
        return context.grep(pattern as string, grepOptions as GrepOptions, limits);
      },
      chunk: (text, chunkOptions) => {
        if (typeof text !== "string") {
          throw new TypeError(
            `the context is a ${context.size}-byte file: chunk it with context.block(i) (blocks of whole lines) or pass a string`,
          );
        }
        return textChunk(text, chunkOptions);
      },
      _context_read: (start, end) => context.readAsync(start, end),
      _context_block: (index) => context.blockAsync(index),
    },
    setupCode: [fileContextSetup(context, language)],
    dispose: helpers.close,
  };
}
