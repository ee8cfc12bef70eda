import type { PoolClient } from "pg";
import type { MemoryItem } from "../../../spec/memory-store.ts";
import { type CheckedItem, idTaken, isLaterVersion, publicItem } from "../item-rules.ts";
import { isoTime, SqlParams } from "./postgres-rows.ts";
import type { VectorIndex } from "./postgres-vectors.ts";

/**
 * Writing items, inside a transaction the caller opened: multi-row INSERTs for speed (an import of 100K
 * items is 200 statements), and latest-wins by key under a per-key lock so concurrent writers agree.
 */

/** Rows per INSERT: 500 rows of at most 13 parameters stay far below PostgreSQL's 65,535 per statement. */
const ROWS_PER_STATEMENT = 500;

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
 * that share keys never wait for each other in a circle.
 */
export async function lockKeys(
  client: PoolClient,
  items: readonly { scope: string; kind: string; key?: string | undefined }[],
): Promise<void> {
  await client.query(
    `SELECT count(pg_advisory_xact_lock(lock)) FROM (
       SELECT DISTINCT hashtextextended(scope || chr(0) || kind || chr(0) || key, $4) AS lock
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

const INSERT_COLUMNS =
  "id, kind, text, key, scope, source, created_at, valid_from, valid_to, superseded_by, metadata, embedding";

/** Multi-row INSERTs; an id already stored (by anyone) fails the whole transaction as a conflict. */
async function insertRows(
  client: PoolClient,
  rows: readonly CheckedItem[],
  vectors: VectorIndex,
): Promise<void> {
  for (let start = 0; start < rows.length; start += ROWS_PER_STATEMENT) {
    const chunk = rows.slice(start, start + ROWS_PER_STATEMENT);
    const params = new SqlParams();
    const values = chunk.map((item) => {
      const fields = [
        params.add(item.id),
        params.add(item.kind),
        params.add(item.text),
        params.add(item.key ?? null),
        params.add(item.scope),
        `${params.add(item.source)}::text[]`,
        `${params.add(item.createdAt)}::timestamptz`,
        `${params.add(item.validFrom)}::timestamptz`,
        `${params.add(item.validTo ?? null)}::timestamptz`,
        params.add(item.supersededBy ?? null),
        `${params.add(JSON.stringify(item.metadata))}::jsonb`,
        `${params.add(item.embedding ?? null)}::float8[]`,
      ];
      if (vectors.enabled) fields.push(`${params.add(vectors.columnValue(item.embedding))}::vector`);
      return `(${fields.join(", ")})`;
    });
    const columns = vectors.enabled ? `${INSERT_COLUMNS}, embedding_vector` : INSERT_COLUMNS;
    const { rows: inserted } = await client.query<{ id: string }>(
      `INSERT INTO memory_items (${columns}) VALUES ${values.join(", ")} ON CONFLICT (id) DO NOTHING RETURNING id`,
      params.values,
    );
    if (inserted.length < chunk.length) {
      const insertedIds = new Set(inserted.map((row) => row.id));
      const taken = chunk.find((item) => !insertedIds.has(item.id));
      throw idTaken(taken?.id ?? "");
    }
  }
}
