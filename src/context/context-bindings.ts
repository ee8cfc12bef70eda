import {
  chunk as chunkText,
  createHostHelpers,
  type GrepOptions,
  grep as grepContext,
} from "../sandboxes/host-helpers.ts";
import type { HostFunction } from "../spec/sandbox.ts";
import type { ContextInput } from "./context-input.ts";
import { FileText } from "./file-text.ts";

/** What a sandbox needs to offer a context and the host helpers over it. */
export interface ContextBindings {
  globals: Record<string, unknown>;
  hostFunctions: Record<string, HostFunction>;
  setupCode: string[];
}

/** Guest code that defines `context` as a handle on a file too large for one string. */
function fileContextSetup(file: FileText): string {
  return `Object.defineProperty(globalThis, "context", { configurable: true, writable: true, enumerable: true, value: Object.freeze({
  kind: "file",
  path: ${JSON.stringify(file.path)},
  length: ${file.size},
  blockCount: ${file.blockCount},
  slice: (start = 0, end = ${file.size}) => __context_read(start, end),
  block: (index) => __context_block(index),
  toString() { throw new Error("context is a ${file.size}-byte file, too large for one string: use context.slice(start, end), context.block(i) for i < context.blockCount, or grep(pattern)"); },
}) });`;
}

/**
 * Puts a context into a sandbox as `context`, with the host helpers `grep`, `chunk` and `count_tokens`.
 * A string, document list or JSON is copied in; a FileText stays on the host and the guest reads it on demand.
 */
export function bindContext(context: ContextInput | FileText): ContextBindings {
  if (!(context instanceof FileText)) {
    return { globals: { context }, hostFunctions: createHostHelpers(() => context), setupCode: [] };
  }
  const helpers = createHostHelpers(() => "");
  return {
    globals: {},
    hostFunctions: {
      ...helpers,
      grep: (pattern, options) => {
        const grepOptions = (options ?? {}) as GrepOptions;
        return grepOptions.text === undefined
          ? context.grep(pattern as string, grepOptions)
          : grepContext(grepOptions.text, pattern as string, grepOptions);
      },
      chunk: (text, options) => {
        if (typeof text !== "string") {
          throw new TypeError(
            `the context is a ${context.size}-byte file: chunk it with context.block(i) (blocks of whole lines) or pass a string`,
          );
        }
        return chunkText(text, options ?? {});
      },
      __context_read: (start, end) => context.read(Number(start), Number(end)),
      __context_block: (index) => context.block(Number(index)),
    },
    setupCode: [fileContextSetup(context)],
  };
}
