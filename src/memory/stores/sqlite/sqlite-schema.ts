/**
 * The SQLite memory store's tables. `seq` keeps insertion order (and is the full-text and vector rowid);
 * `id` is what callers see. Texts are indexed by an external-content FTS5 table that the store writes in the
 * same transaction as the row (not by triggers: FTS5 flushes its buffer at every trigger statement, which made
 * bulk inserts three times slower), so a forget (which blanks the text) also takes the text out of the index.
 */
export const SQLITE_SCHEMA = `
CREATE TABLE IF NOT EXISTS items (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  id TEXT NOT NULL UNIQUE,
  kind TEXT NOT NULL,
  text TEXT NOT NULL,
  key TEXT,
  scope TEXT NOT NULL,
  source TEXT NOT NULL,
  created_at TEXT NOT NULL,
  valid_from TEXT NOT NULL,
  valid_to TEXT,
  superseded_by TEXT,
  forgotten_at TEXT,
  forget_reason TEXT,
  metadata TEXT NOT NULL,
  embedding TEXT
);
CREATE INDEX IF NOT EXISTS items_by_key ON items(scope, kind, key, valid_to) WHERE key IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_by_successor ON items(superseded_by) WHERE superseded_by IS NOT NULL;
CREATE INDEX IF NOT EXISTS items_by_kind ON items(kind, seq);
CREATE INDEX IF NOT EXISTS items_by_scope ON items(scope, seq);
CREATE VIRTUAL TABLE IF NOT EXISTS items_fts USING fts5(text, content='items', content_rowid='seq', tokenize='porter unicode61');
CREATE TABLE IF NOT EXISTS annotations (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  item_id TEXT NOT NULL,
  label TEXT NOT NULL,
  data TEXT NOT NULL,
  at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS annotations_by_item ON annotations(item_id, label);
CREATE INDEX IF NOT EXISTS annotations_by_label ON annotations(label, item_id);
CREATE TABLE IF NOT EXISTS settings (name TEXT PRIMARY KEY, value TEXT NOT NULL);
`;

/** The vector index, made when the first embedding arrives (its dimension is fixed then). */
export function vectorTableSql(dimensions: number): string {
  return `CREATE VIRTUAL TABLE IF NOT EXISTS items_vec USING vec0(embedding float[${dimensions}] distance_metric=cosine)`;
}
