import { randomBytes } from "node:crypto";
import { MemoryError } from "../../errors/memory-error.ts";
import {
  MEMORY_KINDS,
  type MemoryItem,
  type MemoryKind,
  type NewMemoryItem,
} from "../../spec/memory-store.ts";

/** What every store checks before writing: the rules of src/spec/memory-store.ts, shared so stores agree. */

export const DEFAULT_SCOPE = "default";
/** Longest text one item may hold (characters). */
export const MAX_TEXT_CHARS = 1_000_000;
export const MAX_EMBEDDING_DIMENSIONS = 8192;
/** Keyword queries keep at most this many distinct terms. */
export const MAX_QUERY_TERMS = 32;

/** A new item with every default applied and every field checked; the stores write exactly this. */
export interface CheckedItem extends MemoryItem {
  supersedeSameKey: boolean;
}

const invalid = (message: string) => new MemoryError({ message, reason: "invalid" });

/** An ISO 8601 time in one canonical form (so text comparison orders times), or an error naming the field. */
export function canonicalTime(value: unknown, field: string): string {
  const time = typeof value === "string" || value instanceof Date ? new Date(value) : undefined;
  if (!time || Number.isNaN(time.getTime())) {
    throw invalid(
      `memory item ${field} must be an ISO date (like 2026-01-31T12:00:00Z), got ${JSON.stringify(value)}`,
    );
  }
  return time.toISOString();
}

export function isMemoryKind(value: unknown): value is MemoryKind {
  return typeof value === "string" && (MEMORY_KINDS as readonly string[]).includes(value);
}

let lastMs = 0;
let sequence = 0;

/**
 * A UUID in version 7 layout: milliseconds first, then a counter within the millisecond, then random bits. Ids
 * made later in one process compare greater as text, so two versions of a key written in the same millisecond
 * still resolve to the later one (isLaterVersion breaks ties on the id).
 */
export function newItemId(): string {
  const now = Date.now();
  if (now > lastMs) {
    lastMs = now;
    sequence = 0;
  } else {
    sequence++;
    if (sequence > 0xfff) {
      lastMs++;
      sequence = 0;
    }
  }
  const random = randomBytes(8);
  const hex =
    lastMs.toString(16).padStart(12, "0") +
    (0x7000 | sequence).toString(16) +
    (((random[0] ?? 0) & 0x3f) | 0x80).toString(16).padStart(2, "0") +
    random.subarray(1).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

/** Applies defaults and checks one item; `now` is the time of the write. */
export function checkNewItem(item: NewMemoryItem, now: string): CheckedItem {
  if (typeof item !== "object" || item === null) throw invalid("a memory item must be an object");
  if (!isMemoryKind(item.kind)) {
    throw invalid(
      `memory item kind must be one of ${MEMORY_KINDS.join(", ")}, got ${JSON.stringify(item.kind)}`,
    );
  }
  if (typeof item.text !== "string") throw invalid("memory item text must be a string");
  if (item.text.length > MAX_TEXT_CHARS) {
    throw invalid(`memory item text is ${item.text.length} characters; the limit is ${MAX_TEXT_CHARS}`);
  }
  const optionalString = (value: unknown, field: string): string | undefined => {
    if (value === undefined || value === null) return undefined;
    if (typeof value !== "string" || value.length === 0 || value.length > 1000) {
      throw invalid(`memory item ${field} must be a non-empty string of at most 1000 characters`);
    }
    return value;
  };
  const source = item.source ?? [];
  if (!Array.isArray(source) || source.some((entry) => typeof entry !== "string")) {
    throw invalid("memory item source must be a list of strings");
  }
  const metadata = item.metadata ?? {};
  if (typeof metadata !== "object" || metadata === null || Array.isArray(metadata)) {
    throw invalid("memory item metadata must be a JSON object");
  }
  const createdAt = item.createdAt === undefined ? now : canonicalTime(item.createdAt, "createdAt");
  const validFrom = item.validFrom === undefined ? createdAt : canonicalTime(item.validFrom, "validFrom");
  const validTo =
    item.validTo === undefined || item.validTo === null ? undefined : canonicalTime(item.validTo, "validTo");
  const checked: CheckedItem = {
    id: optionalString(item.id, "id") ?? newItemId(),
    kind: item.kind,
    text: item.text,
    scope: optionalString(item.scope, "scope") ?? DEFAULT_SCOPE,
    source: [...source],
    createdAt,
    validFrom,
    metadata: JSON.parse(JSON.stringify(metadata)) as Record<string, unknown>,
    supersedeSameKey: item.supersedeSameKey === true,
  };
  const key = optionalString(item.key, "key");
  if (key !== undefined) checked.key = key;
  if (validTo !== undefined) checked.validTo = validTo;
  const supersededBy = optionalString(item.supersededBy, "supersededBy");
  if (supersededBy !== undefined) checked.supersededBy = supersededBy;
  if (item.embedding !== undefined && item.embedding !== null)
    checked.embedding = checkEmbedding(item.embedding);
  if (checked.supersedeSameKey && checked.key === undefined) {
    throw invalid("memory item with supersedeSameKey needs a key");
  }
  return checked;
}

export function checkEmbedding(embedding: unknown): number[] {
  if (
    !Array.isArray(embedding) ||
    embedding.length === 0 ||
    embedding.length > MAX_EMBEDDING_DIMENSIONS ||
    embedding.some((value) => typeof value !== "number" || !Number.isFinite(value))
  ) {
    throw invalid(`an embedding must be a list of 1 to ${MAX_EMBEDDING_DIMENSIONS} finite numbers`);
  }
  return [...(embedding as number[])];
}

/**
 * Which of two versions of one key is the later: the later `validFrom`, ties to the larger id. The order is
 * the same whichever writer commits first.
 */
export function isLaterVersion(
  a: { validFrom: string; id: string },
  b: { validFrom: string; id: string },
): boolean {
  return a.validFrom === b.validFrom ? a.id > b.id : a.validFrom > b.validFrom;
}

/**
 * English function words dropped from keyword queries: in a small store a word like "the" is rare enough to
 * outrank the words that matter. A query of nothing but such words keeps them.
 */
const QUERY_STOPWORDS = new Set(
  (
    "a an and are as at be by did do does for from had has have how i in is it its me my of on or our so that the " +
    "their them there these they this to was we were what when where which who whom why will with you your"
  ).split(" "),
);

/** The distinct word terms of a keyword query, lower-cased; punctuation and query operators are dropped. */
export function queryTerms(text: string | undefined): string[] {
  if (!text) return [];
  const terms = new Set<string>();
  for (const match of text.toLowerCase().matchAll(/[\p{L}\p{N}_]+/gu)) {
    terms.add(match[0].slice(0, 100));
    if (terms.size >= MAX_QUERY_TERMS * 2) break;
  }
  const words = [...terms].filter((term) => !QUERY_STOPWORDS.has(term));
  return (words.length > 0 ? words : [...terms]).slice(0, MAX_QUERY_TERMS);
}

export function cosineSimilarity(a: readonly number[], b: readonly number[]): number {
  if (a.length !== b.length) return 0;
  let dot = 0;
  let normA = 0;
  let normB = 0;
  for (let i = 0; i < a.length; i++) {
    const x = a[i] ?? 0;
    const y = b[i] ?? 0;
    dot += x * y;
    normA += x * x;
    normB += y * y;
  }
  return normA === 0 || normB === 0 ? 0 : dot / Math.sqrt(normA * normB);
}

export function notFound(id: string): MemoryError {
  return new MemoryError({
    message: `memory item ${JSON.stringify(id)} not found (see \`rlm memory list\`)`,
    reason: "not-found",
  });
}

export function idTaken(id: string): MemoryError {
  return new MemoryError({
    message: `memory item id ${JSON.stringify(id)} already exists`,
    reason: "conflict",
  });
}

/** The item as callers see it: no undefined-valued fields, so stores compare equal with `toEqual`. */
export function publicItem(item: MemoryItem): MemoryItem {
  const out: MemoryItem = {
    id: item.id,
    kind: item.kind,
    text: item.text,
    scope: item.scope,
    source: item.source,
    createdAt: item.createdAt,
    validFrom: item.validFrom,
    metadata: item.metadata,
  };
  if (item.key !== undefined) out.key = item.key;
  if (item.validTo !== undefined) out.validTo = item.validTo;
  if (item.supersededBy !== undefined) out.supersededBy = item.supersededBy;
  if (item.forgottenAt !== undefined) out.forgottenAt = item.forgottenAt;
  if (item.forgetReason !== undefined) out.forgetReason = item.forgetReason;
  if (item.embedding !== undefined) out.embedding = item.embedding;
  return out;
}
