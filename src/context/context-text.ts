import { toDocuments } from "../sandboxes/host-helpers.ts";
import { type ContextInput, isDocumentList } from "./context-input.ts";
import { FileText } from "./file-text.ts";

function documentText(id: string, text: string): string {
  return `=== document ${id} ===\n${text}\n`;
}

/** Total characters of a context's text form (bytes for a file). */
export function contextLength(context: ContextInput | FileText): number {
  if (context instanceof FileText) return context.size;
  if (typeof context === "string") return context.length;
  if (isDocumentList(context)) {
    return toDocuments(context).reduce(
      (sum, document) => sum + documentText(document.id, document.text).length,
      0,
    );
  }
  return JSON.stringify(context).length;
}

/** The context as one text, at most `maxChars` long (a file is read only that far). */
export function contextText(context: ContextInput | FileText, maxChars = Number.POSITIVE_INFINITY): string {
  if (context instanceof FileText) return context.read(0, Math.min(context.size, maxChars));
  if (typeof context === "string") return context.slice(0, maxChars);
  let text = "";
  for (const piece of contextChunks(context, 1_000_000)) {
    text += piece;
    if (text.length >= maxChars) return text.slice(0, maxChars);
  }
  return text;
}

/** Splits a text into pieces of about `size` characters, cutting after a newline or space near the end. */
function* splitText(text: string, size: number): Generator<string> {
  let start = 0;
  while (start < text.length) {
    let end = Math.min(text.length, start + size);
    if (end < text.length) {
      const newline = text.lastIndexOf("\n", end);
      const space = text.lastIndexOf(" ", end);
      const cut = newline > start + size / 2 ? newline + 1 : space > start + size / 2 ? space + 1 : end;
      end = cut;
    }
    yield text.slice(start, end);
    start = end;
  }
}

/**
 * The context as a stream of pieces of about `chunkChars` characters. A file is read block by block, so memory
 * stays flat however large it is; documents are split one by one, each piece headed by its document's id.
 */
export function* contextChunks(context: ContextInput | FileText, chunkChars: number): Generator<string> {
  if (context instanceof FileText) {
    let carry = "";
    for (let index = 0; index < context.blockCount; index++) {
      const text = carry + context.block(index);
      const pieces = [...splitText(text, chunkChars)];
      carry = pieces.pop() ?? "";
      yield* pieces;
    }
    if (carry !== "") yield carry;
    return;
  }
  if (typeof context === "string") {
    yield* splitText(context, chunkChars);
    return;
  }
  if (isDocumentList(context)) {
    for (const document of toDocuments(context)) {
      for (const piece of splitText(document.text, chunkChars)) yield documentText(document.id, piece);
    }
    return;
  }
  yield* splitText(JSON.stringify(context, null, 1), chunkChars);
}
