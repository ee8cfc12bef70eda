/**
 * What may go into a span as text: message content (only when the user asked for it) and error lines, both with
 * secrets redacted and cut to a size a collector takes.
 */
import { redactSecrets } from "../models/redact-secrets.ts";
import { foldNewlines } from "../shared/fold-newlines.ts";
import { GEN_AI } from "./gen-ai-attributes.ts";

/** Characters of one content attribute (a reply, a cell's output, an answer); the rest is cut with a note. */
export const CONTENT_LIMIT = 16_384;
/** Characters of an error line (a span's status message). */
export const ERROR_LIMIT = 500;

/** Redacts, then cuts: a secret is never half-kept at the cut, since redaction saw the text past it. */
export function cutText(text: string, limit: number, secrets: readonly string[]): string {
  const redacted = redactSecrets(text.length > limit * 2 ? text.slice(0, limit * 2) : text, secrets);
  if (redacted.length <= limit && text.length <= limit * 2) return redacted;
  return `${redacted.slice(0, limit)}…[cut: ${text.length.toLocaleString("en-US")} characters in all]`;
}

/** One line for a span's status message or an `error` attribute: redacted, newlines folded, cut. */
export function errorLine(text: string, secrets: readonly string[]): string {
  return cutText(foldNewlines(text, " ").trim(), ERROR_LIMIT, secrets);
}

/** Whether the environment asks for content on spans (the OTel GenAI instrumentations' variable). */
export function contentCaptureFromEnv(env: Record<string, string | undefined>): boolean {
  return env.OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT?.trim().toLowerCase() === "true";
}

/** A value of any kind as text: strings as they are, the rest as JSON (what FINAL may be given). */
export function asText(value: unknown): string {
  if (typeof value === "string") return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/** gen_ai.input.messages / gen_ai.output.messages: one text message in the conventions' JSON shape. */
export function messagesAttribute(
  direction: "input" | "output",
  role: "user" | "assistant",
  text: string,
  secrets: readonly string[],
): Record<string, string> {
  const message = {
    role,
    parts: [{ type: "text", content: cutText(text, CONTENT_LIMIT, secrets) }],
    ...(direction === "output" ? { finish_reason: "stop" } : {}),
  };
  const name = direction === "input" ? GEN_AI.inputMessages : GEN_AI.outputMessages;
  return { [name]: JSON.stringify([message]) };
}
