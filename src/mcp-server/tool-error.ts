import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { foldNewlines } from "../shared/fold-newlines.ts";

/** Characters of an error line a client gets. */
const MAX_ERROR_CHARS = 2000;

/** A tool error result: one line (secrets redacted, cut), never a thrown error that ends the connection. */
export function toolError(error: unknown, redact: (text: string) => string): CallToolResult {
  const message = error instanceof Error ? error.message : String(error);
  const line = foldNewlines(redact(message), " ").trim().slice(0, MAX_ERROR_CHARS);
  return { content: [{ type: "text", text: line || "the call failed" }], isError: true };
}
