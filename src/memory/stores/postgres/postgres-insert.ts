import type { PoolClient } from "pg";
import type { MemoryItem } from "../../../spec/memory-store.ts";
import { type CheckedItem, idTaken, isLaterVersion, publicItem } from "../item-rules.ts";
import { encodeEmbedding, isoTime } from "./postgres-rows.ts";
import type { VectorIndex } from "./postgres-vectors.ts";

/**
 * Writing items, inside a transaction the caller opened: multi-row INSERTs for speed (an import of 100K
 * items is 200 statements), and latest-wins by key under a per-key lock so concurrent writers agree.
 */

/** One INSERT carries at most this many rows, and stops adding rows once its JSON passes the byte bound. */
const ROWS_PER_STATEMENT = 500;
const JSON_CHARS_PER_STATEMENT = 16 * 1024 * 1024;

/** Seed of the key-lock hashes, so they are unlikely to meet another application's advisory locks. */
const KEY_LOCK_SEED = 1919708523;

/** Whether an item takes part in latest-wins: it asks to, and it is not an import that states its own end. */
function resolvesByKey(item: CheckedItem): boolean {
  return item.supersedeSameKey && item.validTo === undefined && item.supersededBy === undefined;
}

/** Stores `items` in order (their insertion order is their `seq`) and returns them as stored. */
export async function insertItems(
  client: PoolClient,
  items: readonly CheckedItem[],
  vectors: VectorIndex,
): Promise<MemoryItem[]> {
  const ids = new Set<string>();
  for (const item of items) {
    if (ids.has(item.id)) throw idTaken(item.id);
    ids.add(item.id);
  }
  await vectors.prepare(client, items);
  const keyed = items.filter(resolvesByKey);
  if (keyed.length > 0) await lockKeys(client, keyed);
  const stored: CheckedItem[] = [];
  let pending: CheckedItem[] = [];
  for (const item of items) {
    if (!resolvesByKey(item)) {
      pending.push(item);
      stored.push(item);
      continue;
    }
    // Rows before this one go in first: a keyed item must see every earlier version, this batch's included.
    await insertRows(client, pending, vectors);
    pending = [];
    const resolved = await resolveLatest(client, item);
    await insertRows(client, [resolved], vectors);
    stored.push(resolved);
  }
  await insertRows(client, pending, vectors);
  return stored.map(publicItem);
}

/**
 * Takes the transaction lock of every (scope, kind, key) in one fixed order (by lock number), so two batches
 * that share keys never wait for each other in a circle. The triple is hashed as a JSON array, which no two
 * triples share (PostgreSQL text cannot hold the NUL separator); two keys sharing a hash only share a lock.
 */
export async function lockKeys(
  client: PoolClient,
  items: readonly { scope: string; kind: string; key?: string | undefined }[],
): Promise<void> {
  await client.query(
    `SELECT count(pg_advisory_xact_lock(lock)) FROM (
       SELECT DISTINCT hashtextextended(json_build_array(scope, kind, key)::text, $4) AS lock
       FROM unnest($1::text[], $2::text[], $3::text[]) AS k (scope, kind, key)
       ORDER BY lock) AS locks`,
    [
      items.map((item) => item.scope),
      items.map((item) => item.kind),
      items.map((item) => item.key ?? ""),
      KEY_LOCK_SEED,
    ],
  );
}

/**
 * Latest wins (the key's lock is held): the new item closes the current versions when it is the later one,
 * otherwise it is stored already closed by the current one.
 */
async function resolveLatest(client: PoolClient, item: CheckedItem): Promise<CheckedItem> {
  const { rows } = await client.query<{ id: string; valid_from: Date }>(
    `SELECT id, valid_from FROM memory_items
      WHERE key = $1 AND scope = $2 AND kind = $3
        AND valid_to IS NULL AND superseded_by IS NULL AND forgotten_at IS NULL`,
    [item.key, item.scope, item.kind],
  );
  let latest: { id: string; validFrom: string } | undefined;
  for (const row of rows) {
    const version = { id: row.id, validFrom: isoTime(row.valid_from) };
    if (!latest || isLaterVersion(version, latest)) latest = version;
  }
  if (!latest) return item;
  if (!isLaterVersion(item, latest)) return { ...item, validTo: latest.validFrom, supersededBy: latest.id };
  await client.query("UPDATE memory_items SET valid_to = $1, superseded_by = $2 WHERE id = ANY($3::text[])", [
    item.validFrom,
    item.id,
    rows.map((row) => row.id),
  ]);
  return item;
}

/** The columns a batch row carries, with their types: JSON text becomes typed rows in the server. */
const ROW_TYPES =
  "id text, kind text, text text, key text, scope text, source text[], created_at timestamptz, " +
  "valid_from timestamptz, valid_to timestamptz, superseded_by text, metadata jsonb, embedding bytea";
const COLUMNS =
  "id, kind, text, key, scope, source, created_at, valid_from, valid_to, superseded_by, metadata, embedding";

/**
 * Inserts rows in statements of up to ROWS_PER_STATEMENT, each sent as one JSON parameter that the server
 * turns into rows (json_to_recordset): far cheaper to send and plan than thousands of separate parameters.
 * An id already stored (by anyone) fails the whole transaction as a conflict.
 */
async function insertRows(
  client: PoolClient,
  rows: readonly CheckedItem[],
  vectors: VectorIndex,
): Promise<void> {
  let chunk: CheckedItem[] = [];
  let json: string[] = [];
  let chars = 0;
  for (const item of rows) {
    const row = rowJson(item, vectors);
    chunk.push(item);
    json.push(row);
    chars += row.length;
    if (chunk.length >= ROWS_PER_STATEMENT || chars >= JSON_CHARS_PER_STATEMENT) {
      await insertChunk(client, chunk, `[${json.join(",")}]`, vectors);
      chunk = [];
      json = [];
      chars = 0;
    }
  }
  if (chunk.length > 0) await insertChunk(client, chunk, `[${json.join(",")}]`, vectors);
}

function rowJson(item: CheckedItem, vectors: VectorIndex): string {
  return JSON.stringify({
    id: item.id,
    kind: item.kind,
    text: item.text,
    key: item.key ?? null,
    scope: item.scope,
    source: item.source,
    created_at: item.createdAt,
    valid_from: item.validFrom,
    valid_to: item.validTo ?? null,
    superseded_by: item.supersededBy ?? null,
    metadata: item.metadata,
    // bytea's hex input form.
    embedding: item.embedding ? `\\x${encodeEmbedding(item.embedding).toString("hex")}` : null,
    ...(vectors.enabled ? { embedding_vector: vectors.columnValue(item.embedding) } : {}),
  });
}

async function insertChunk(
  client: PoolClient,
  chunk: readonly CheckedItem[],
  json: string,
  vectors: VectorIndex,
): Promise<void> {
  const rowTypes = vectors.enabled ? `${ROW_TYPES}, embedding_vector text` : ROW_TYPES;
  const { rows: inserted } = await client.query<{ id: string }>(
    `INSERT INTO memory_items (${COLUMNS}${vectors.enabled ? ", embedding_vector" : ""})
     SELECT ${COLUMNS}${vectors.enabled ? ", embedding_vector::vector" : ""}
       FROM ROWS FROM (json_to_recordset($1::json) AS (${rowTypes})) WITH ORDINALITY AS r
      ORDER BY r.ordinality
     ON CONFLICT (id) DO NOTHING RETURNING id`,
    [json],
  );
  if (inserted.length < chunk.length) {
    const insertedIds = new Set(inserted.map((row) => row.id));
    const taken = chunk.find((item) => !insertedIds.has(item.id));
    throw idTaken(taken?.id ?? "");
  }
}
