/**
 * A chat conversation as a run's context: every message becomes one document (`message-3-user`), so a long
 * paste stays in the sandbox and never enters the root prompt; the task is to answer the last user message.
 * /v1/runs may add `context` (a text, or files as `[{name, text}]`), which comes first. Everything a client
 * sends is checked here, with errors that name the field.
 */
import { ApiError, badRequest } from "./api-error.ts";

/** One document of the context: a message, an attached file, or the attached text. */
export interface RunDocument {
  id: string;
  text: string;
}

/** Messages a conversation may hold. */
export const MAX_MESSAGES = 1_000;
/** Files `context` may hold. */
export const MAX_CONTEXT_FILES = 1_000;
/** Characters of the whole context (messages and `context` together): 16 million, about 4M tokens. */
export const MAX_CONTEXT_CHARS = 16_000_000;
/** A last user message up to this long is the query itself; a longer one stays only in the context. */
export const INLINE_QUERY_CHARS = 4_000;

const ROLES = new Set(["system", "developer", "user", "assistant", "tool"]);

/** A message's text: a string, or text parts (`[{type: "text", text}]`); `null` only for an assistant's. */
function messageText(content: unknown, role: string, where: string): string {
  if (typeof content === "string") return content;
  if (content === null || content === undefined) {
    if (role === "assistant") return "";
    throw badRequest(`${where}.content`, `${where}.content is required for a ${role} message.`);
  }
  if (!Array.isArray(content)) {
    throw badRequest(`${where}.content`, `${where}.content must be a string or a list of text parts.`);
  }
  const texts: string[] = [];
  for (const [index, part] of content.entries()) {
    const at = `${where}.content[${index}]`;
    if (typeof part !== "object" || part === null) throw badRequest(at, `${at} must be a text part object.`);
    const { type, text } = part as { type?: unknown; text?: unknown };
    if (type !== "text") {
      throw badRequest(
        `${at}.type`,
        `${at}.type is ${JSON.stringify(type)}: rlm serve reads text parts only ({"type": "text", "text": ...}).`,
      );
    }
    if (typeof text !== "string") throw badRequest(`${at}.text`, `${at}.text must be a string.`);
    texts.push(text);
  }
  return texts.join("\n");
}

function contextDocuments(context: unknown): RunDocument[] {
  if (context === undefined) return [];
  if (typeof context === "string") return [{ id: "context", text: context }];
  if (!Array.isArray(context)) {
    throw badRequest("context", 'context must be a text or a list of files [{"name": ..., "text": ...}].');
  }
  if (context.length > MAX_CONTEXT_FILES) {
    throw badRequest("context", `context holds ${context.length} files; at most ${MAX_CONTEXT_FILES}.`);
  }
  const names = new Set<string>();
  return context.map((file, index) => {
    const at = `context[${index}]`;
    if (typeof file !== "object" || file === null || Array.isArray(file)) {
      throw badRequest(at, `${at} must be an object {"name": ..., "text": ...}.`);
    }
    const { name, text, ...rest } = file as Record<string, unknown>;
    const stray = Object.keys(rest)[0];
    if (stray !== undefined) throw badRequest(`${at}.${stray}`, `${at}.${stray} is not a field of a file.`);
    if (typeof name !== "string" || name.trim() === "" || name.length > 256) {
      throw badRequest(`${at}.name`, `${at}.name must be a non-empty string of at most 256 characters.`);
    }
    if (names.has(name)) throw badRequest(`${at}.name`, `${at}.name "${name}" is given twice.`);
    names.add(name);
    if (typeof text !== "string") throw badRequest(`${at}.text`, `${at}.text must be a string.`);
    return { id: name, text };
  });
}

/** The documents of a run (attached context first, then the conversation) and its query. */
export function conversationContext(
  messages: unknown,
  context: unknown,
): { documents: RunDocument[]; query: string } {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw badRequest("messages", "messages must be a non-empty list of chat messages.");
  }
  if (messages.length > MAX_MESSAGES) {
    throw badRequest("messages", `messages holds ${messages.length} messages; at most ${MAX_MESSAGES}.`);
  }
  const documents = contextDocuments(context);
  const attached = documents.length;
  let last: { id: string; text: string } | undefined;
  for (const [index, message] of messages.entries()) {
    const where = `messages[${index}]`;
    if (typeof message !== "object" || message === null || Array.isArray(message)) {
      throw badRequest(where, `${where} must be a message object.`);
    }
    const { role, content } = message as { role?: unknown; content?: unknown };
    if (typeof role !== "string" || !ROLES.has(role)) {
      throw badRequest(
        `${where}.role`,
        `${where}.role must be one of ${[...ROLES].join(", ")}, got ${JSON.stringify(role)}.`,
      );
    }
    const document = { id: `message-${index + 1}-${role}`, text: messageText(content, role, where) };
    documents.push(document);
    if (role === "user") last = document;
  }
  if (last === undefined) throw badRequest("messages", "messages needs at least one user message to answer.");
  const chars = documents.reduce((sum, document) => sum + document.text.length, 0);
  if (chars > MAX_CONTEXT_CHARS) {
    throw new ApiError({
      status: 400,
      param: attached > 0 ? "context" : "messages",
      code: "context_too_large",
      message: `The conversation and context hold ${chars} characters; at most ${MAX_CONTEXT_CHARS}.`,
    });
  }
  const where = `The context holds a chat conversation, one document per message (${documents[attached]?.id}, ...)${attached > 0 ? `, after ${attached} attached document(s)` : ""}. Answer its last user message (${last.id}), following the system and developer messages in it.`;
  const query =
    last.text.length <= INLINE_QUERY_CHARS && last.text.trim() !== ""
      ? `${last.text}\n\n(${where})`
      : `${where} That message is ${last.text.length} characters long, so it is only in the context: read it there.`;
  return { documents, query };
}
