/** Longest message a tool error carries; the model reads it, so it stays one short line. */
const MAX_MESSAGE_CHARS = 400;

/**
 * An Error with a one-line message for the model (the agent loop turns a thrown tool error into its result).
 * Whitespace is collapsed, the message is capped, and every `secrets` value is replaced by `[redacted]`.
 */
export function toolError(message: string, secrets: readonly (string | undefined)[] = []): Error {
  let text = message.replace(/\s+/g, " ").trim();
  for (const secret of secrets) {
    if (secret !== undefined && secret.length > 0) text = text.split(secret).join("[redacted]");
  }
  if (text.length > MAX_MESSAGE_CHARS) text = `${text.slice(0, MAX_MESSAGE_CHARS - 3)}...`;
  return new Error(text);
}

/** The most specific reason of a failed fetch (undici puts it in `cause`): its code, else its message. */
export function errorCause(error: unknown): string {
  const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
  if (cause instanceof Error) {
    const code = (cause as { code?: unknown }).code;
    return typeof code === "string" ? code : cause.message;
  }
  return String(cause);
}
