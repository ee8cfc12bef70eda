import type { PoolClient } from "pg";

/**
 * The PostgreSQL memory store's tables. Names carry a `memory_` prefix because the database may be shared
 * with other applications.
 *
 * - `memory_items`: one row per item version; `seq` is the insertion order (pagination, "most recent").
 *   `search_text` is a generated full-text column with a GIN index. Embeddings are kept exactly, as float64
 *   bytes (see encodeEmbedding); when the pgvector extension is there, `embedding_vector` holds a copy for
 *   its HNSW index.
 * - `memory_annotations`: append-only notes about items.
 * - `memory_meta`: settings fixed once per database, such as the embedding dimension of the vector index.
 */

/** A tsvector holds at most 1 MB, so only the first characters of a very long text are indexed. */
export const INDEXED_TEXT_CHARS = 250_000;

const TABLES = [
  `CREATE TABLE IF NOT EXISTS memory_items (
    seq bigserial PRIMARY KEY,
    id text NOT NULL UNIQUE,
    kind text NOT NULL,
    text text NOT NULL,
    key text,
    scope text NOT NULL,
    source text[] NOT NULL DEFAULT '{}',
    created_at timestamptz NOT NULL,
    valid_from timestamptz NOT NULL,
    valid_to timestamptz,
    superseded_by text,
    forgotten_at timestamptz,
    forget_reason text,
    metadata jsonb NOT NULL DEFAULT '{}',
    embedding bytea,
    search_text tsvector GENERATED ALWAYS AS
      (to_tsvector('english'::regconfig, left(text, ${INDEXED_TEXT_CHARS}))) STORED
  )`,
  `CREATE TABLE IF NOT EXISTS memory_annotations (
    seq bigserial PRIMARY KEY,
    item_id text NOT NULL REFERENCES memory_items (id),
    label text NOT NULL,
    data jsonb NOT NULL DEFAULT '{}',
    at timestamptz NOT NULL
  )`,
  `CREATE TABLE IF NOT EXISTS memory_meta (
    name text PRIMARY KEY,
    value text NOT NULL
  )`,
];

const INDEXES = [
  "CREATE INDEX IF NOT EXISTS memory_items_search ON memory_items USING gin (search_text)",
  // Serves lookups by key alone, key + scope, and key + scope + kind (current version, history).
  `CREATE INDEX IF NOT EXISTS memory_items_key ON memory_items (key, scope, kind, valid_from)
    WHERE key IS NOT NULL`,
  `CREATE INDEX IF NOT EXISTS memory_items_superseded_by ON memory_items (superseded_by)
    WHERE superseded_by IS NOT NULL`,
  "CREATE INDEX IF NOT EXISTS memory_items_scope ON memory_items (scope, seq)",
  // The most recent embeddings, overall and per scope: the shortlist of vector search without pgvector.
  `CREATE INDEX IF NOT EXISTS memory_items_recent_embedded ON memory_items (seq)
    WHERE embedding IS NOT NULL AND forgotten_at IS NULL`,
  `CREATE INDEX IF NOT EXISTS memory_items_recent_embedded_scope ON memory_items (scope, seq)
    WHERE embedding IS NOT NULL AND forgotten_at IS NULL`,
  "CREATE INDEX IF NOT EXISTS memory_annotations_item ON memory_annotations (item_id, label)",
];

/**
 * Advisory lock held while the schema is created: `CREATE ... IF NOT EXISTS` is not safe against another
 * session creating the same table at the same moment. The two-key form keeps it apart from the one-key locks
 * taken per memory key.
 */
const SCHEMA_LOCK = "SELECT pg_advisory_xact_lock(1919708523, 1)";

/** Raised when the tables change; the version is kept in memory_meta. */
const SCHEMA_VERSION = "1";

/** Creates what is missing (safe when several processes open at once); returns whether pgvector is used. */
export async function ensureSchema(client: PoolClient): Promise<{ pgvector: boolean }> {
  const ready = await readySchema(client);
  if (ready) return ready;
  await client.query("BEGIN");
  try {
    await client.query(SCHEMA_LOCK);
    for (const statement of [...TABLES, ...INDEXES]) await client.query(statement);
    const pgvector = await ensureVectorExtension(client);
    if (pgvector) {
      await client.query("ALTER TABLE memory_items ADD COLUMN IF NOT EXISTS embedding_vector vector");
    }
    await client.query(
      `INSERT INTO memory_meta (name, value) VALUES ('schema_version', $1)
       ON CONFLICT (name) DO UPDATE SET value = excluded.value`,
      [SCHEMA_VERSION],
    );
    await client.query("COMMIT");
    return { pgvector };
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  }
}

/**
 * The schema when it is complete, read without DDL or locks: `CREATE INDEX IF NOT EXISTS` locks the table
 * even when the index exists, so running the creation at every open would make opening wait for writers.
 * Undefined when something is to be created, pgvector included (when available but not yet in use).
 */
async function readySchema(client: PoolClient): Promise<{ pgvector: boolean } | undefined> {
  try {
    const { rows } = await client.query<{
      version: string | null;
      vector_column: boolean;
      vector_available: boolean;
    }>(
      `SELECT (SELECT value FROM memory_meta WHERE name = 'schema_version') AS version,
              EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = 'memory_items'::regclass
                        AND attname = 'embedding_vector' AND NOT attisdropped) AS vector_column,
              EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS vector_available`,
    );
    const row = rows[0];
    if (row?.version !== SCHEMA_VERSION || (!row.vector_column && row.vector_available)) return undefined;
    return { pgvector: row.vector_column };
  } catch (error) {
    // 42P01: the tables do not exist yet.
    if ((error as { code?: unknown }).code === "42P01") return undefined;
    throw error;
  }
}

/**
 * Whether the `vector` extension is (or could now be) installed in this database. Creating it needs rights
 * the store's user may lack; that failure is rolled back to a savepoint and the store does without.
 */
async function ensureVectorExtension(client: PoolClient): Promise<boolean> {
  const { rows } = await client.query<{ installed: boolean; available: boolean }>(
    `SELECT EXISTS (SELECT 1 FROM pg_extension WHERE extname = 'vector') AS installed,
            EXISTS (SELECT 1 FROM pg_available_extensions WHERE name = 'vector') AS available`,
  );
  const { installed, available } = rows[0] ?? { installed: false, available: false };
  if (installed) return true;
  if (!available) return false;
  await client.query("SAVEPOINT vector_extension");
  try {
    await client.query("CREATE EXTENSION IF NOT EXISTS vector");
    await client.query("RELEASE SAVEPOINT vector_extension");
    return true;
  } catch {
    await client.query("ROLLBACK TO SAVEPOINT vector_extension");
    return false;
  }
}
