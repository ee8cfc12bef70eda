import pg, { type Pool, type PoolClient } from "pg";
import { MemoryError } from "../../../errors/memory-error.ts";
import { urlWithoutPassword } from "../../../shared/postgres-url.ts";
import type {
  MemoryAnnotation,
  MemoryCandidate,
  MemoryItem,
  MemoryKind,
  MemoryListFilter,
  MemoryQuery,
  MemoryStore,
  NewMemoryItem,
} from "../../../spec/memory-store.ts";
import { checkNewItem, DEFAULT_SCOPE, isMemoryKind, notFound } from "../item-rules.ts";
import { failureReason, storeFailure } from "./postgres-errors.ts";
import { insertItems, lockKeys } from "./postgres-insert.ts";
import { ITEM_COLUMNS, type ItemRow, isoTime, rowToItem, SqlParams } from "./postgres-rows.ts";
import { ensureSchema } from "./postgres-schema.ts";
import { checkQuery, searchItems, VECTOR_SHORTLIST } from "./postgres-search.ts";
import { VectorIndex } from "./postgres-vectors.ts";

/** A few connections per process: each operation holds one briefly; writers run in parallel processes. */
const POOL_SIZE = 4;
const CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_LIST_LIMIT = 1000;
/** history() follows `supersededBy` links at most this far each way (a guard against a cycle in imports). */
const MAX_CHAIN = 10_000;

const ignore = () => {};
const invalid = (message: string) => new MemoryError({ message, reason: "invalid" });

/**
 * Opens (and creates when missing) the memory store in the PostgreSQL database at `url`. Fails with a
 * MemoryError (reason "unavailable") that names the server without its password.
 */
export async function openPostgresMemoryStore(
  url: string,
  options: { warn?: (line: string) => void } = {},
): Promise<MemoryStore> {
  const location = urlWithoutPassword(url);
  if (!URL.canParse(url)) {
    throw invalid(
      `not a PostgreSQL URL: ${location} (expected a URL such as postgres://HOST:5432/DB, with USER:PASSWORD@ before the host)`,
    );
  }
  const pool = new pg.Pool({
    connectionString: url,
    max: POOL_SIZE,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    allowExitOnIdle: true,
  });
  // An idle connection that drops (server restart) must not crash the process; the next query reports it.
  pool.on("error", ignore);
  try {
    const client = await pool.connect();
    try {
      const { pgvector } = await ensureSchema(client);
      const vectors = new VectorIndex(pgvector);
      await vectors.refresh(client);
      return new PostgresMemoryStore(pool, location, vectors, options.warn ?? (() => {}));
    } finally {
      client.release();
    }
  } catch (error) {
    await pool.end().catch(() => {});
    throw new MemoryError({
      message: `cannot open memory store ${location}: ${failureReason(error)}`,
      reason: "unavailable",
    });
  }
}

class PostgresMemoryStore implements MemoryStore {
  readonly location: string;
  readonly vectorSearch: boolean;
  private readonly pool: Pool;
  private readonly vectors: VectorIndex;
  private readonly warn: (line: string) => void;
  private warnedNoIndex = false;
  private closed = false;

  constructor(pool: Pool, location: string, vectors: VectorIndex, warn: (line: string) => void) {
    this.pool = pool;
    this.location = location;
    this.vectors = vectors;
    this.vectorSearch = vectors.enabled;
    this.warn = warn;
  }

  async insert(items: NewMemoryItem[]): Promise<MemoryItem[]> {
    if (!Array.isArray(items)) throw invalid("insert takes a list of memory items");
    const now = new Date().toISOString();
    const checked = items.map((item) => checkNewItem(item, now));
    if (checked.some((item) => item.embedding)) this.warnWithoutIndex();
    if (checked.length === 0) return [];
    return this.transaction((client) => insertItems(client, checked, this.vectors));
  }

  async get(id: string): Promise<MemoryItem | undefined> {
    const { rows } = await this.query<ItemRow>(`SELECT ${ITEM_COLUMNS} FROM memory_items WHERE id = $1`, [
      id,
    ]);
    return rows[0] ? rowToItem(rows[0]) : undefined;
  }

  async search(query: MemoryQuery): Promise<MemoryCandidate[]> {
    const checked = checkQuery(query);
    if (checked.embedding) this.warnWithoutIndex();
    return this.guard(() => searchItems(this.pool, checked, this.vectors));
  }

  async list(filter: MemoryListFilter = {}): Promise<MemoryItem[]> {
    const limit = filter.limit ?? DEFAULT_LIST_LIMIT;
    if (!Number.isInteger(limit) || limit < 0) throw invalid("memory list limit must be a whole number");
    if (filter.kind !== undefined && !isMemoryKind(filter.kind))
      throw invalid(`unknown memory kind ${filter.kind}`);
    const params = new SqlParams();
    const where: string[] = [];
    if (filter.kind !== undefined) where.push(`kind = ${params.add(filter.kind)}`);
    if (filter.scope !== undefined) where.push(`scope = ${params.add(filter.scope)}`);
    if (filter.key !== undefined) where.push(`key = ${params.add(filter.key)}`);
    if (filter.current) where.push("valid_to IS NULL AND superseded_by IS NULL AND forgotten_at IS NULL");
    if (filter.withoutAnnotation !== undefined) {
      where.push(
        `NOT EXISTS (SELECT 1 FROM memory_annotations a
          WHERE a.item_id = memory_items.id AND a.label = ${params.add(filter.withoutAnnotation)})`,
      );
    }
    if (filter.after !== undefined) {
      const { rows } = await this.query<{ seq: string }>("SELECT seq FROM memory_items WHERE id = $1", [
        filter.after,
      ]);
      if (!rows[0]) throw notFound(filter.after);
      where.push(`seq > ${params.add(rows[0].seq)}`);
    }
    const { rows } = await this.query<ItemRow>(
      `SELECT ${ITEM_COLUMNS} FROM memory_items ${where.length > 0 ? `WHERE ${where.join(" AND ")}` : ""}
        ORDER BY seq LIMIT ${limit}`,
      params.values,
    );
    return rows.map(rowToItem);
  }

  async supersede(id: string, next: NewMemoryItem): Promise<MemoryItem> {
    // `next` replaces exactly `id`: latest-wins by key does not apply to it.
    const checked = { ...checkNewItem(next, new Date().toISOString()), supersedeSameKey: false };
    if (checked.embedding) this.warnWithoutIndex();
    return this.transaction(async (client) => {
      const old = await this.lockForChange(client, id);
      if (old.superseded_by !== null) {
        throw new MemoryError({
          message: `memory item ${JSON.stringify(id)} is already superseded by ${JSON.stringify(old.superseded_by)}`,
          reason: "conflict",
        });
      }
      if (old.valid_to !== null || old.forgotten_at !== null) {
        throw new MemoryError({
          message: `memory item ${JSON.stringify(id)} is no longer current (${old.valid_to ? `valid to ${isoTime(old.valid_to)}` : "forgotten"}); only a current item can be superseded`,
          reason: "conflict",
        });
      }
      const [stored] = await insertItems(client, [checked], this.vectors);
      await client.query("UPDATE memory_items SET valid_to = $2, superseded_by = $3 WHERE id = $1", [
        id,
        checked.validFrom,
        checked.id,
      ]);
      return stored as MemoryItem;
    });
  }

  async forget(id: string, reason?: string): Promise<MemoryItem> {
    if (reason !== undefined && typeof reason !== "string") throw invalid("a forget reason must be a string");
    const now = new Date().toISOString();
    return this.transaction(async (client) => {
      const { rows } = await client.query<ItemRow>(
        `UPDATE memory_items SET text = '', metadata = '{}', embedding = NULL,
           ${this.vectors.enabled ? "embedding_vector = NULL," : ""}
           forgotten_at = coalesce(forgotten_at, $2), forget_reason = coalesce($3, forget_reason)
         WHERE id = $1 RETURNING ${ITEM_COLUMNS}`,
        [id, now, reason ?? null],
      );
      if (!rows[0]) throw notFound(id);
      await client.query(
        "INSERT INTO memory_annotations (item_id, label, data, at) VALUES ($1, 'forgotten', $2::jsonb, $3)",
        [id, JSON.stringify(reason === undefined ? {} : { reason }), now],
      );
      return rowToItem(rows[0]);
    });
  }

  async history(id: string): Promise<MemoryItem[]> {
    const item = await this.get(id);
    if (!item) throw notFound(id);
    if (item.key !== undefined) return this.historyByKey(item.key, { scope: item.scope, kind: item.kind });
    // No key: the chain of supersededBy links, followed back to the first version and on to the last.
    const { rows } = await this.query<ItemRow>(
      `WITH RECURSIVE
         earlier (seq, id, depth) AS (
           SELECT seq, id, 0 FROM memory_items WHERE id = $1
           UNION ALL
           SELECT i.seq, i.id, e.depth - 1 FROM memory_items i JOIN earlier e ON i.superseded_by = e.id
            WHERE e.depth > -${MAX_CHAIN}),
         later (seq, superseded_by, depth) AS (
           SELECT seq, superseded_by, 0 FROM memory_items WHERE id = $1
           UNION ALL
           SELECT i.seq, i.superseded_by, l.depth + 1 FROM memory_items i JOIN later l ON i.id = l.superseded_by
            WHERE l.depth < ${MAX_CHAIN}),
         chain AS (
           SELECT seq, min(depth) AS depth
             FROM (SELECT seq, depth FROM earlier UNION ALL SELECT seq, depth FROM later) AS links
            GROUP BY seq)
       SELECT ${ITEM_COLUMNS} FROM memory_items JOIN chain USING (seq)
        ORDER BY depth, valid_from, id COLLATE "C"`,
      [id],
    );
    return rows.map(rowToItem);
  }

  /** Versions of `key` in one scope (default "default"), of one kind or all, oldest first. */
  async historyByKey(
    key: string,
    options: { scope?: string; kind?: MemoryKind } = {},
  ): Promise<MemoryItem[]> {
    const params = new SqlParams();
    const where = [`key = ${params.add(key)}`, `scope = ${params.add(options.scope ?? DEFAULT_SCOPE)}`];
    if (options.kind !== undefined) where.push(`kind = ${params.add(options.kind)}`);
    const { rows } = await this.query<ItemRow>(
      `SELECT ${ITEM_COLUMNS} FROM memory_items WHERE ${where.join(" AND ")} ORDER BY valid_from, id COLLATE "C"`,
      params.values,
    );
    return rows.map(rowToItem);
  }

  async annotate(itemIds: string[], label: string, data: Record<string, unknown> = {}): Promise<void> {
    if (!Array.isArray(itemIds) || itemIds.some((id) => typeof id !== "string")) {
      throw invalid("annotate takes a list of item ids");
    }
    if (typeof label !== "string" || label.length === 0 || label.length > 1000) {
      throw invalid("an annotation label must be a non-empty string of at most 1000 characters");
    }
    if (typeof data !== "object" || data === null || Array.isArray(data)) {
      throw invalid("annotation data must be a JSON object");
    }
    if (itemIds.length === 0) return;
    const now = new Date().toISOString();
    await this.transaction(async (client) => {
      const { rows } = await client.query<{ item_id: string }>(
        `INSERT INTO memory_annotations (item_id, label, data, at)
         SELECT i.id, $2, $3::jsonb, $4 FROM unnest($1::text[]) WITH ORDINALITY AS t (id, n)
           JOIN memory_items i ON i.id = t.id ORDER BY t.n
         RETURNING item_id`,
        [itemIds, label, JSON.stringify(data), now],
      );
      if (rows.length < itemIds.length) {
        const found = new Set(rows.map((row) => row.item_id));
        throw notFound(itemIds.find((id) => !found.has(id)) ?? "");
      }
    });
  }

  async annotations(itemId: string): Promise<MemoryAnnotation[]> {
    const { rows } = await this.query<{
      item_id: string;
      label: string;
      data: Record<string, unknown>;
      at: Date;
    }>("SELECT item_id, label, data, at FROM memory_annotations WHERE item_id = $1 ORDER BY seq", [itemId]);
    return rows.map((row) => ({
      itemId: row.item_id,
      label: row.label,
      data: row.data,
      at: isoTime(row.at),
    }));
  }

  async count(): Promise<number> {
    const { rows } = await this.query<{ n: string }>("SELECT count(*) AS n FROM memory_items");
    return Number(rows[0]?.n ?? 0);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.pool.end();
  }

  /** Without pgvector, vector search works on a shortlist: said once, when embeddings are first used. */
  private warnWithoutIndex(): void {
    if (this.vectors.enabled || this.warnedNoIndex) return;
    this.warnedNoIndex = true;
    this.warn(
      `memory store ${this.location}: the PostgreSQL "vector" extension (pgvector) is not installed, so vector ` +
        `search compares only the ${VECTOR_SHORTLIST} most recent items with embeddings and the keyword matches`,
    );
  }

  /** Reads the row to change under its key's lock (when it has a key) and its own row lock. */
  private async lockForChange(client: PoolClient, id: string): Promise<ItemRow> {
    const { rows: keys } = await client.query<{ key: string | null; scope: string; kind: string }>(
      "SELECT key, scope, kind FROM memory_items WHERE id = $1",
      [id],
    );
    const keyed = keys[0];
    if (!keyed) throw notFound(id);
    if (keyed.key !== null)
      await lockKeys(client, [{ scope: keyed.scope, kind: keyed.kind, key: keyed.key }]);
    const { rows } = await client.query<ItemRow>(
      `SELECT ${ITEM_COLUMNS} FROM memory_items WHERE id = $1 FOR UPDATE`,
      [id],
    );
    if (!rows[0]) throw notFound(id);
    return rows[0];
  }

  private checkOpen(): void {
    if (this.closed) {
      throw new MemoryError({ message: `memory store ${this.location} is closed`, reason: "unavailable" });
    }
  }

  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    this.checkOpen();
    try {
      return await operation();
    } catch (error) {
      throw storeFailure(this.location, error);
    }
  }

  private query<R extends pg.QueryResultRow>(
    text: string,
    values: unknown[] = [],
  ): Promise<pg.QueryResult<R>> {
    return this.guard(() => this.pool.query<R>(text, values));
  }

  /** Runs `work` in one transaction on one connection: committed whole or rolled back whole. */
  private transaction<T>(work: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.guard(async () => {
      const client = await this.pool.connect();
      // A connection lost between two statements is reported by the next one, not as an uncaught event.
      client.on("error", ignore);
      let broken: Error | undefined;
      try {
        await client.query("BEGIN");
        const result = await work(client);
        await client.query("COMMIT");
        return result;
      } catch (error) {
        await client.query("ROLLBACK").catch((rollbackError: Error) => {
          broken = rollbackError;
        });
        throw error;
      } finally {
        client.off("error", ignore);
        client.release(broken);
      }
    });
  }
}
