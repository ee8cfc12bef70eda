/**
 * The memory store extension point: a durable, append-only log of memory items.
 * Hierarchical memory (src/memory/), the case bank and the playbook depend only on this file.
 * Nothing here imports anything else of rlmkit.
 *
 * Rules every store keeps:
 * - Nothing is overwritten or deleted by normal use. A newer item supersedes an older one: the older gets
 *   `validTo` and `supersededBy`, and stays readable through `history` and `asOf` searches.
 * - `forget` is the one destructive act: it erases an item's text, metadata and embedding, keeps a tombstone
 *   (`forgottenAt`, `forgetReason`) and records it among the item's annotations.
 * - Search runs inside indexes (full-text, vector), never by scanning every row.
 * - Several processes may write one store at once; nothing is lost.
 */

export type MemoryKind = "episode" | "fact" | "summary" | "case" | "lesson";

export const MEMORY_KINDS: readonly MemoryKind[] = ["episode", "fact", "summary", "case", "lesson"];

export interface MemoryItem {
  id: string;
  kind: MemoryKind;
  text: string;
  /** What the item is about, e.g. `user.city`. Within a scope, one current item per kind and key. */
  key?: string;
  /** A namespace: a user, project or agent. Default "default". */
  scope: string;
  /** Provenance: a run id, a file, or the ids of the items it came from. */
  source: string[];
  /** ISO 8601 times. `validTo` is set when the item was superseded. */
  createdAt: string;
  validFrom: string;
  validTo?: string;
  supersededBy?: string;
  forgottenAt?: string;
  forgetReason?: string;
  metadata: Record<string, unknown>;
  embedding?: number[];
}

/** What `insert` takes: an id and times are assigned unless given (import passes them to round-trip). */
export interface NewMemoryItem {
  kind: MemoryKind;
  text: string;
  key?: string;
  scope?: string;
  source?: string[];
  metadata?: Record<string, unknown>;
  embedding?: number[];
  id?: string;
  createdAt?: string;
  validFrom?: string;
  validTo?: string;
  supersededBy?: string;
  /**
   * Latest wins by key: within the same transaction, the current item of the same kind, scope and key is
   * superseded by this one (or, when the current one is valid from a later time, this one is stored as
   * already superseded by it). Ties on `validFrom` go to the larger id, so the outcome never depends on
   * which writer came first.
   */
  supersedeSameKey?: boolean;
}

export interface MemoryQuery {
  /** Keyword query (ranked by BM25 or the store's full-text ranking). */
  text?: string;
  /**
   * Vector query (nearest by cosine similarity). Without a vector index (`vectorSearch` false) a store either
   * ranks a bounded shortlist (keyword hits and the newest items) by the vectors it keeps, as the PostgreSQL
   * store does without pgvector, or ignores it, as the SQLite store does without sqlite-vec.
   */
  embedding?: number[];
  /** Candidates per ranking (default 10). */
  k?: number;
  scope?: string;
  kinds?: MemoryKind[];
  /** Only items valid at this time (ISO); default: items valid now (not superseded). */
  asOf?: string;
}

export interface MemoryCandidate {
  item: MemoryItem;
  /** Keyword relevance, higher is better, 0 when the item did not match the keywords. */
  keyword: number;
  /** Cosine similarity in [-1, 1], or 0 when no vector ranking took part. */
  vector: number;
}

/** Filters of `list`; a filter not given does not filter (no scope: every scope, as in `search`). */
export interface MemoryListFilter {
  kind?: MemoryKind;
  scope?: string;
  key?: string;
  /** Only items not superseded and not forgotten. */
  current?: boolean;
  /** Only items that carry no annotation with this label (e.g. "consolidated"). */
  withoutAnnotation?: string;
  /** Pagination in insertion order: items after this id's position. */
  after?: string;
  limit?: number;
}

/** An append-only note about an item: a consolidation mark, a learned value, a forget record. */
export interface MemoryAnnotation {
  itemId: string;
  label: string;
  data: Record<string, unknown>;
  at: string;
}

export interface MemoryStore {
  /** Where the store lives, for messages (a file path, or a URL without its password). */
  readonly location: string;
  /** Whether a vector index serves `MemoryQuery.embedding` (see there for what happens without one). */
  readonly vectorSearch: boolean;
  /** Inserts all items in one transaction: all are stored or none. Returns them as stored. */
  insert(items: NewMemoryItem[]): Promise<MemoryItem[]>;
  get(id: string): Promise<MemoryItem | undefined>;
  /** Candidates from the keyword and vector indexes, with their raw scores; forgotten items never. */
  search(query: MemoryQuery): Promise<MemoryCandidate[]>;
  list(filter?: MemoryListFilter): Promise<MemoryItem[]>;
  /** Stores `next` and closes `id` (validTo = next.validFrom, supersededBy = next.id) in one transaction. */
  supersede(id: string, next: NewMemoryItem): Promise<MemoryItem>;
  /** Erases the item's content, keeps a tombstone, records who/why as an annotation. */
  forget(id: string, reason?: string): Promise<MemoryItem>;
  /** Every version of an item's key in its scope and kind (or the item alone), oldest first. */
  history(id: string): Promise<MemoryItem[]>;
  /** Every version of a key, oldest first; scope "default" unless given (a key belongs to one scope), all kinds. */
  historyByKey(key: string, options?: { scope?: string; kind?: MemoryKind }): Promise<MemoryItem[]>;
  annotate(itemIds: string[], label: string, data?: Record<string, unknown>): Promise<void>;
  annotations(itemId: string): Promise<MemoryAnnotation[]>;
  /** Items stored, all kinds and versions, forgotten ones included. */
  count(): Promise<number>;
  close(): Promise<void>;
}
