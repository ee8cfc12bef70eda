import type { MemoryItem, MemoryKind } from "../../../spec/memory-store.ts";
import { publicItem } from "../item-rules.ts";

/** The columns an item is read from (not the search or vector-index copies). */
export const ITEM_COLUMNS =
  "seq, id, kind, text, key, scope, source, created_at, valid_from, valid_to, superseded_by, forgotten_at, " +
  "forget_reason, metadata, embedding";

/** A row of memory_items as `pg` parses it: timestamptz as Date, jsonb as a value, arrays as arrays. */
export interface ItemRow {
  seq: string;
  id: string;
  kind: MemoryKind;
  text: string;
  key: string | null;
  scope: string;
  source: string[];
  created_at: Date;
  valid_from: Date;
  valid_to: Date | null;
  superseded_by: string | null;
  forgotten_at: Date | null;
  forget_reason: string | null;
  metadata: Record<string, unknown>;
  embedding: Buffer | null;
}

/**
 * Times go in as canonical ISO strings (millisecond precision) and come back as Dates, so `toISOString`
 * gives back exactly the string that was stored.
 */
export function isoTime(value: Date): string {
  return value.toISOString();
}

/**
 * Embeddings are stored as bytea, float64 little-endian: exact, and cheap to send and read. As float8[] text,
 * 5,000 embeddings of 1,536 dimensions took seconds to write and seconds more to list, all in number
 * formatting and parsing.
 */
export function encodeEmbedding(embedding: readonly number[]): Buffer {
  const bytes = Buffer.allocUnsafe(embedding.length * 8);
  for (let i = 0; i < embedding.length; i++) bytes.writeDoubleLE(embedding[i] ?? 0, i * 8);
  return bytes;
}

export function decodeEmbedding(bytes: Buffer): number[] {
  const embedding = new Array<number>(bytes.length >> 3);
  for (let i = 0; i < embedding.length; i++) embedding[i] = bytes.readDoubleLE(i * 8);
  return embedding;
}

export function rowToItem(row: ItemRow): MemoryItem {
  const item: MemoryItem = {
    id: row.id,
    kind: row.kind,
    text: row.text,
    scope: row.scope,
    source: row.source,
    createdAt: isoTime(row.created_at),
    validFrom: isoTime(row.valid_from),
    metadata: row.metadata,
  };
  if (row.key !== null) item.key = row.key;
  if (row.valid_to !== null) item.validTo = isoTime(row.valid_to);
  if (row.superseded_by !== null) item.supersededBy = row.superseded_by;
  if (row.forgotten_at !== null) item.forgottenAt = isoTime(row.forgotten_at);
  if (row.forget_reason !== null) item.forgetReason = row.forget_reason;
  if (row.embedding !== null) item.embedding = decodeEmbedding(row.embedding);
  return publicItem(item);
}

/** Collects query parameters and hands out their `$n` placeholders, so no value is ever spliced into SQL. */
export class SqlParams {
  readonly values: unknown[] = [];

  add(value: unknown): string {
    this.values.push(value);
    return `$${this.values.length}`;
  }
}
