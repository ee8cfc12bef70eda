import { closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { dirname, resolve } from "node:path";
import type { DatabaseSync, SQLInputValue, StatementSync } from "node:sqlite";
import { MemoryError } from "../../../errors/memory-error.ts";
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
import { boundedKeywordSearch } from "../bounded-keyword-search.ts";
import {
  type CheckedItem,
  checkEmbedding,
  checkNewItem,
  DEFAULT_SCOPE,
  idTaken,
  isLaterVersion,
  notFound,
  publicItem,
  queryTerms,
} from "../item-rules.ts";
import { SQLITE_SCHEMA, vectorTableSql } from "./sqlite-schema.ts";

export interface SqliteMemoryStoreOptions {
  warn?: (line: string) => void;
  /** How long a writer waits for another process's transaction, in ms (default 30,000). */
  busyTimeoutMs?: number;
}

interface ItemRow {
  seq: number;
  id: string;
  kind: string;
  text: string;
  key: string | null;
  scope: string;
  source: string;
  created_at: string;
  valid_from: string;
  valid_to: string | null;
  superseded_by: string | null;
  forgotten_at: string | null;
  forget_reason: string | null;
  metadata: string;
  embedding: string | null;
}

const DEFAULT_LIST_LIMIT = 1000;
/** Vector neighbours fetched per wanted hit, since validity and scope are filtered after the index. */
const VECTOR_OVERFETCH = 8;

function toItem(row: ItemRow): MemoryItem {
  return publicItem({
    id: row.id,
    kind: row.kind as MemoryKind,
    text: row.text,
    key: row.key ?? undefined,
    scope: row.scope,
    source: JSON.parse(row.source) as string[],
    createdAt: row.created_at,
    validFrom: row.valid_from,
    validTo: row.valid_to ?? undefined,
    supersededBy: row.superseded_by ?? undefined,
    forgottenAt: row.forgotten_at ?? undefined,
    forgetReason: row.forget_reason ?? undefined,
    metadata: JSON.parse(row.metadata) as Record<string, unknown>,
    embedding: row.embedding === null ? undefined : (JSON.parse(row.embedding) as number[]),
  });
}

/** Opens (creating when missing) a memory store in one SQLite file: WAL, FTS5, sqlite-vec when it loads. */
export async function openSqliteMemoryStore(
  location: string,
  options: SqliteMemoryStoreOptions = {},
): Promise<MemoryStore> {
  const { DatabaseSync } = await import("node:sqlite");
  const path = location === ":memory:" ? location : resolve(location);
  let db: DatabaseSync;
  try {
    // One level only (~/.rlmkit under an existing home): a path under a missing folder is a typo to report, and
    // Node's recursive mkdir never returns on some special file systems (/proc).
    if (path !== ":memory:" && !existsSync(dirname(path))) mkdirSync(dirname(path), { mode: 0o700 });
    // A new file is the owner's alone (memories hold what runs read and said); SQLite gives its -wal and -shm
    // files the same permissions.
    if (path !== ":memory:" && !existsSync(path)) closeSync(openSync(path, "a", 0o600));
    db = new DatabaseSync(path, { allowExtension: true, timeout: options.busyTimeoutMs ?? 30_000 });
    db.exec("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;");
    immediate(db, () => db.exec(SQLITE_SCHEMA));
  } catch (error) {
    throw new MemoryError({
      message: `cannot open memory store ${path}: ${(error as Error).message}; give a writable file (rlm memory --db, rlm run --memory)`,
      reason: "unavailable",
      cause: error,
    });
  }
  const vectors = await loadVectorExtension(db, options.warn);
  return new SqliteMemoryStore(db, path, vectors, options.warn);
}

async function loadVectorExtension(db: DatabaseSync, warn?: (line: string) => void): Promise<boolean> {
  try {
    const { getLoadablePath } = await import("sqlite-vec");
    db.loadExtension(getLoadablePath());
    return true;
  } catch (error) {
    warn?.(
      `memory: vector search is off (sqlite-vec did not load: ${(error as Error).message}); keyword search works`,
    );
    return false;
  } finally {
    db.enableLoadExtension(false);
  }
}

/** Runs `work` in a write transaction taken up front, so concurrent writers queue instead of failing. */
function immediate<T>(db: DatabaseSync, work: () => T): T {
  db.exec("BEGIN IMMEDIATE");
  try {
    const result = work();
    db.exec("COMMIT");
    return result;
  } catch (error) {
    db.exec("ROLLBACK");
    throw error;
  }
}

class SqliteMemoryStore implements MemoryStore {
  readonly location: string;
  readonly vectorSearch: boolean;
  readonly #db: DatabaseSync;
  readonly #warn: ((line: string) => void) | undefined;
  readonly #statements = new Map<string, StatementSync>();
  #vectorDimensions: number | undefined;
  #warnedDimensions = false;

  constructor(db: DatabaseSync, location: string, vectorSearch: boolean, warn?: (line: string) => void) {
    this.#db = db;
    this.location = location;
    this.vectorSearch = vectorSearch;
    this.#warn = warn;
  }

  #sql(sql: string): StatementSync {
    let statement = this.#statements.get(sql);
    if (!statement) {
      statement = this.#db.prepare(sql);
      this.#statements.set(sql, statement);
    }
    return statement;
  }

  #row(id: string): ItemRow | undefined {
    return this.#sql("SELECT * FROM items WHERE id = ?").get(id) as ItemRow | undefined;
  }

  async insert(items: NewMemoryItem[]): Promise<MemoryItem[]> {
    const now = new Date().toISOString();
    const checked = items.map((item) => checkNewItem(item, now));
    return immediate(this.#db, () => checked.map((item) => this.#insertOne(item)));
  }

  #insertOne(item: CheckedItem): MemoryItem {
    if (item.supersedeSameKey && item.validTo === undefined) {
      const current = this.#sql(
        "SELECT * FROM items WHERE scope = ? AND kind = ? AND key = ? AND valid_to IS NULL AND forgotten_at IS NULL ORDER BY valid_from DESC, id DESC LIMIT 1",
      ).get(item.scope, item.kind, item.key ?? "") as ItemRow | undefined;
      if (current) {
        if (isLaterVersion(item, { validFrom: current.valid_from, id: current.id })) {
          this.#sql("UPDATE items SET valid_to = ?, superseded_by = ? WHERE seq = ?").run(
            item.validFrom,
            item.id,
            current.seq,
          );
        } else {
          item.validTo = current.valid_from;
          item.supersededBy = current.id;
        }
      }
    }
    if (this.#row(item.id)) throw idTaken(item.id);
    const result = this.#sql(
      `INSERT INTO items (id, kind, text, key, scope, source, created_at, valid_from, valid_to, superseded_by, metadata, embedding)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ).run(
      item.id,
      item.kind,
      item.text,
      item.key ?? null,
      item.scope,
      JSON.stringify(item.source),
      item.createdAt,
      item.validFrom,
      item.validTo ?? null,
      item.supersededBy ?? null,
      JSON.stringify(item.metadata),
      item.embedding ? JSON.stringify(item.embedding) : null,
    );
    const seq = Number(result.lastInsertRowid);
    this.#sql("INSERT INTO items_fts (rowid, text) VALUES (?, ?)").run(seq, item.text);
    if (item.embedding) this.#indexVector(seq, item.embedding);
    const { supersedeSameKey: _, ...stored } = item;
    return publicItem(stored);
  }

  #indexVector(seq: number, embedding: number[]): void {
    if (!this.vectorSearch) return;
    if (this.#vectorDimensions === undefined) {
      const setting = this.#sql("SELECT value FROM settings WHERE name = 'vector_dimensions'").get() as
        | { value: string }
        | undefined;
      if (setting) {
        this.#vectorDimensions = Number(setting.value);
      } else {
        this.#db.exec(vectorTableSql(embedding.length));
        this.#sql("INSERT INTO settings (name, value) VALUES ('vector_dimensions', ?)").run(
          String(embedding.length),
        );
        this.#vectorDimensions = embedding.length;
      }
    }
    if (embedding.length !== this.#vectorDimensions) {
      if (!this.#warnedDimensions) {
        this.#warnedDimensions = true;
        this.#warn?.(
          `memory: an embedding of ${embedding.length} dimensions is stored but not indexed; this store indexes ${this.#vectorDimensions}`,
        );
      }
      return;
    }
    this.#sql("INSERT INTO items_vec (rowid, embedding) VALUES (?, ?)").run(
      BigInt(seq),
      new Float32Array(embedding),
    );
  }

  async get(id: string): Promise<MemoryItem | undefined> {
    const row = this.#row(id);
    return row ? toItem(row) : undefined;
  }

  async search(query: MemoryQuery): Promise<MemoryCandidate[]> {
    const k = Math.max(1, Math.min(query.k ?? 10, 1000));
    const filter = this.#searchFilter(query);
    const byId = new Map<string, MemoryCandidate>();
    const terms = queryTerms(query.text);
    if (terms.length > 0) {
      for (const row of this.#keywordRows(terms, filter, k)) {
        byId.set(row.id, { item: toItem(row), keyword: row.score, vector: 0 });
      }
    }
    if (query.embedding && this.vectorSearch && this.#hasVectorIndex()) {
      const embedding = checkEmbedding(query.embedding);
      if (embedding.length === this.#vectorDimensions) {
        const rows = this.#db
          .prepare(
            `SELECT items.*, 1 - nearest.distance AS similarity FROM
               (SELECT rowid, distance FROM items_vec WHERE embedding MATCH ? AND k = ?) AS nearest
             JOIN items ON items.seq = nearest.rowid WHERE ${filter.sql} ORDER BY nearest.distance LIMIT ?`,
          )
          .all(
            new Float32Array(embedding),
            Math.min(k * VECTOR_OVERFETCH, 4096),
            ...filter.values,
            k,
          ) as unknown as (ItemRow & {
          similarity: number;
        })[];
        for (const row of rows) {
          const known = byId.get(row.id);
          if (known) known.vector = row.similarity;
          else byId.set(row.id, { item: toItem(row), keyword: 0, vector: row.similarity });
        }
      }
    }
    return [...byId.values()];
  }

  /** Keyword candidates: FTS5 finds the items, boundedKeywordSearch ranks them with bounded work. */
  #keywordRows(terms: string[], filter: { sql: string; values: SQLInputValue[] }, k: number) {
    const postings = this.#sql(
      "SELECT rowid FROM items_fts WHERE items_fts MATCH ? ORDER BY rowid DESC LIMIT ?",
    );
    const inList = (rowids: number[]) => rowids.map(() => "?").join(", ");
    const hits = boundedKeywordSearch<{ seq: number; text: string }>(
      {
        postings: (term, limit) =>
          (postings.all(`"${term}"`, limit) as { rowid: number }[]).map((entry) => Number(entry.rowid)),
        // Only what scoring reads; whole rows are read for the k kept.
        rows: (rowids) =>
          this.#sql(`SELECT seq, text FROM items WHERE seq IN (${inList(rowids)}) AND ${filter.sql}`).all(
            ...rowids,
            ...filter.values,
          ) as unknown as { seq: number; text: string }[],
        documentCount: () =>
          Number((this.#sql("SELECT max(seq) AS n FROM items").get() as { n: number | null }).n ?? 0),
      },
      terms,
      k,
    );
    if (hits.length === 0) return [];
    const rows = new Map(
      (
        this.#sql(`SELECT * FROM items WHERE seq IN (${inList(hits.map((hit) => hit.row.seq))})`).all(
          ...hits.map((hit) => hit.row.seq),
        ) as unknown as ItemRow[]
      ).map((row) => [row.seq, row]),
    );
    return hits.flatMap(({ row, score }) => {
      const full = rows.get(row.seq);
      return full ? [{ ...full, score }] : [];
    });
  }

  #hasVectorIndex(): boolean {
    if (this.#vectorDimensions !== undefined) return true;
    const setting = this.#sql("SELECT value FROM settings WHERE name = 'vector_dimensions'").get() as
      | { value: string }
      | undefined;
    if (setting) this.#vectorDimensions = Number(setting.value);
    return setting !== undefined;
  }

  #searchFilter(query: MemoryQuery): { sql: string; values: SQLInputValue[] } {
    const clauses = ["forgotten_at IS NULL"];
    const values: SQLInputValue[] = [];
    if (query.asOf !== undefined) {
      const asOf = new Date(query.asOf);
      if (Number.isNaN(asOf.getTime())) {
        throw new MemoryError({
          message: `asOf must be an ISO date, got ${JSON.stringify(query.asOf)}`,
          reason: "invalid",
        });
      }
      clauses.push("valid_from <= ? AND (valid_to IS NULL OR valid_to > ?)");
      values.push(asOf.toISOString(), asOf.toISOString());
    } else {
      clauses.push("valid_to IS NULL");
    }
    if (query.scope !== undefined) {
      clauses.push("scope = ?");
      values.push(query.scope);
    }
    if (query.kinds && query.kinds.length > 0) {
      clauses.push(`kind IN (${query.kinds.map(() => "?").join(", ")})`);
      values.push(...query.kinds);
    }
    return { sql: clauses.join(" AND "), values };
  }

  async list(filter: MemoryListFilter = {}): Promise<MemoryItem[]> {
    const clauses: string[] = [];
    const values: SQLInputValue[] = [];
    if (filter.kind !== undefined) {
      clauses.push("kind = ?");
      values.push(filter.kind);
    }
    if (filter.scope !== undefined) {
      clauses.push("scope = ?");
      values.push(filter.scope);
    }
    if (filter.key !== undefined) {
      clauses.push("key = ?");
      values.push(filter.key);
    }
    if (filter.current) clauses.push("valid_to IS NULL AND forgotten_at IS NULL");
    if (filter.withoutAnnotation !== undefined) {
      clauses.push(
        "NOT EXISTS (SELECT 1 FROM annotations WHERE annotations.item_id = items.id AND label = ?)",
      );
      values.push(filter.withoutAnnotation);
    }
    if (filter.after !== undefined) {
      const after = this.#row(filter.after);
      if (!after) throw notFound(filter.after);
      clauses.push("seq > ?");
      values.push(after.seq);
    }
    const where = clauses.length > 0 ? `WHERE ${clauses.join(" AND ")}` : "";
    const limit = Math.max(1, Math.min(filter.limit ?? DEFAULT_LIST_LIMIT, 100_000));
    const rows = this.#db
      .prepare(`SELECT * FROM items ${where} ORDER BY seq LIMIT ?`)
      .all(...values, limit) as unknown as ItemRow[];
    return rows.map(toItem);
  }

  async supersede(id: string, next: NewMemoryItem): Promise<MemoryItem> {
    const checked = checkNewItem({ ...next, supersedeSameKey: false }, new Date().toISOString());
    return immediate(this.#db, () => {
      const old = this.#row(id);
      if (!old) throw notFound(id);
      if (old.valid_to !== null || old.forgotten_at !== null) {
        throw new MemoryError({
          message: `memory item ${id} is already superseded or forgotten; supersede its latest version (see \`rlm memory history ${id}\`)`,
          reason: "conflict",
        });
      }
      const stored = this.#insertOne(checked);
      this.#sql("UPDATE items SET valid_to = ?, superseded_by = ? WHERE seq = ?").run(
        stored.validFrom,
        stored.id,
        old.seq,
      );
      return stored;
    });
  }

  async forget(id: string, reason?: string): Promise<MemoryItem> {
    const at = new Date().toISOString();
    return immediate(this.#db, () => {
      const row = this.#row(id);
      if (!row) throw notFound(id);
      // Forgetting twice changes nothing (and must not take the text out of the index twice).
      if (row.forgotten_at !== null) return toItem(row);
      this.#sql("INSERT INTO items_fts (items_fts, rowid, text) VALUES ('delete', ?, ?)").run(
        row.seq,
        row.text,
      );
      this.#sql(
        "UPDATE items SET text = '', metadata = '{}', embedding = NULL, forgotten_at = ?, forget_reason = ? WHERE seq = ?",
      ).run(at, reason ?? null, row.seq);
      if (this.vectorSearch && this.#hasVectorIndex())
        this.#sql("DELETE FROM items_vec WHERE rowid = ?").run(BigInt(row.seq));
      this.#sql("INSERT INTO annotations (item_id, label, data, at) VALUES (?, 'forgotten', ?, ?)").run(
        id,
        JSON.stringify(reason === undefined ? {} : { reason }),
        at,
      );
      return toItem(this.#row(id) as ItemRow);
    });
  }

  async history(id: string): Promise<MemoryItem[]> {
    const row = this.#row(id);
    if (!row) throw notFound(id);
    if (row.key !== null) {
      return this.historyByKey(row.key, { scope: row.scope, kind: row.kind as MemoryKind });
    }
    const chain = [row];
    for (let earlier = row; ; ) {
      const previous = this.#sql("SELECT * FROM items WHERE superseded_by = ?").get(earlier.id) as
        | ItemRow
        | undefined;
      if (!previous || chain.length > 10_000) break;
      chain.unshift(previous);
      earlier = previous;
    }
    for (let later = row; later.superseded_by !== null && chain.length <= 10_000; ) {
      const next = this.#row(later.superseded_by);
      if (!next) break;
      chain.push(next);
      later = next;
    }
    return chain.map(toItem);
  }

  async historyByKey(
    key: string,
    options: { scope?: string; kind?: MemoryKind } = {},
  ): Promise<MemoryItem[]> {
    const values: SQLInputValue[] = [options.scope ?? DEFAULT_SCOPE, key];
    let sql = "SELECT * FROM items WHERE scope = ? AND key = ?";
    if (options.kind !== undefined) {
      sql += " AND kind = ?";
      values.push(options.kind);
    }
    const rows = this.#db.prepare(`${sql} ORDER BY valid_from, id`).all(...values) as unknown as ItemRow[];
    return rows.map(toItem);
  }

  async annotate(itemIds: string[], label: string, data: Record<string, unknown> = {}): Promise<void> {
    const at = new Date().toISOString();
    const json = JSON.stringify(data);
    immediate(this.#db, () => {
      for (const id of itemIds) {
        if (!this.#row(id)) throw notFound(id);
        this.#sql("INSERT INTO annotations (item_id, label, data, at) VALUES (?, ?, ?, ?)").run(
          id,
          label,
          json,
          at,
        );
      }
    });
  }

  async annotations(itemId: string): Promise<MemoryAnnotation[]> {
    const rows = this.#sql("SELECT * FROM annotations WHERE item_id = ? ORDER BY seq").all(itemId) as {
      item_id: string;
      label: string;
      data: string;
      at: string;
    }[];
    return rows.map((row) => ({
      itemId: row.item_id,
      label: row.label,
      data: JSON.parse(row.data) as Record<string, unknown>,
      at: row.at,
    }));
  }

  async count(): Promise<number> {
    return Number((this.#sql("SELECT count(*) AS n FROM items").get() as { n: number }).n);
  }

  async close(): Promise<void> {
    if (this.#db.isOpen) this.#db.close();
  }
}
