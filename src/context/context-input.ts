import type { Document } from "../sandboxes/host-helpers.ts";
import { FileText } from "./file-text.ts";

/** What a run works on: one text, a list of documents, or parsed JSON. */
export type ContextInput = string | Array<string | Document> | Record<string, unknown> | unknown[];

/** What the model is told about the context instead of the context itself. */
export interface ContextMetadata {
  type: "string" | "documents" | "json" | "file";
  /** Total characters (of all documents, or of the JSON text); bytes for a file. */
  chars: number;
  /** Number of lines of a string context. */
  lines?: number;
  documents?: number;
  /** Smallest, largest and mean document size in characters. */
  documentChars?: { min: number; max: number; mean: number };
  /** The first documents' ids (at most 10). */
  documentIds?: string[];
  /** Blocks of whole lines a file context offers through `context.block(i)`. */
  blocks?: number;
  /** The beginning of the text (or of the first document). */
  preview: string;
}

const PREVIEW_CHARS = 500;

function countLines(text: string): number {
  let lines = text.length === 0 ? 0 : 1;
  for (
    let index = text.indexOf("\n");
    index !== -1 && index < text.length - 1;
    index = text.indexOf("\n", index + 1)
  ) {
    lines++;
  }
  return lines;
}

export function isDocumentList(value: unknown): value is Array<string | Document> {
  return (
    Array.isArray(value) &&
    value.every(
      (item) =>
        typeof item === "string" ||
        (typeof item === "object" && item !== null && typeof (item as { text?: unknown }).text === "string"),
    )
  );
}

/** Type, size, document count and a short preview: what the model sees about the input. */
export function describeContext(context: ContextInput | FileText): ContextMetadata {
  if (context instanceof FileText) {
    return {
      type: "file",
      chars: context.size,
      blocks: context.blockCount,
      preview: context.read(0, PREVIEW_CHARS),
    };
  }
  if (typeof context === "string") {
    return {
      type: "string",
      chars: context.length,
      lines: countLines(context),
      preview: context.slice(0, PREVIEW_CHARS),
    };
  }
  if (isDocumentList(context) && context.length > 0) {
    const texts = context.map((item) => (typeof item === "string" ? item : item.text));
    const sizes = texts.map((text) => text.length);
    const chars = sizes.reduce((sum, size) => sum + size, 0);
    return {
      type: "documents",
      chars,
      documents: context.length,
      documentChars: {
        min: Math.min(...sizes),
        max: Math.max(...sizes),
        mean: Math.round(chars / sizes.length),
      },
      documentIds: context
        .slice(0, 10)
        .map((item, index) => (typeof item === "string" ? String(index) : item.id)),
      preview: (texts[0] ?? "").slice(0, PREVIEW_CHARS),
    };
  }
  const json = JSON.stringify(context) ?? "";
  return { type: "json", chars: json.length, preview: json.slice(0, PREVIEW_CHARS) };
}
