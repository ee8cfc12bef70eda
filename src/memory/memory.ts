import type { MemoryItem, MemoryKind, MemoryStore, NewMemoryItem } from "../spec/memory-store.ts";
import { type ConsolidateOptions, type ConsolidationReport, consolidateEpisodes } from "./consolidate.ts";
import type { Embedder } from "./embedder.ts";
import type { MemoryModel } from "./memory-model.ts";
import { DEFAULT_SCOPE } from "./stores/item-rules.ts";

export interface MemoryOptions {
  store: MemoryStore;
  /** The model `consolidate` uses when it is given none. */
  model?: MemoryModel;
  /** Turns on vector retrieval: items get embeddings when stored, queries when retrieving. */
  embedder?: Embedder;
  /** Scope of items stored and searched when a call names none (default "default"). */
  scope?: string;
  /** Recency halves every this many days (default 30). */
  halfLifeDays?: number;
}

export interface AddOptions {
  scope?: string;
  key?: string;
  source?: string[];
  metadata?: Record<string, unknown>;
  /** Ends the embedding call (when an embedder is configured) and refuses the write once aborted. */
  signal?: AbortSignal;
}

export interface RetrieveOptions {
  /** Hits returned (default 5). */
  k?: number;
  /** Default: the memory's scope. */
  scope?: string;
  kinds?: MemoryKind[];
  /** Search the past: only items valid at that time (superseded ones included). */
  asOf?: string | Date;
  /** Ends the query's embedding call, if any. */
  signal?: AbortSignal;
}

/** How a hit scored: each part in [0, 1], and their weighted sum. */
export interface ScoreBreakdown {
  keyword: number;
  vector: number;
  recency: number;
  total: number;
}

export interface MemoryHit {
  item: MemoryItem;
  score: ScoreBreakdown;
}

/** Weights of the hybrid score, with and without an embedder. */
const WEIGHTS = {
  withVectors: { keyword: 0.45, vector: 0.45, recency: 0.1 },
  keywordOnly: { keyword: 0.85, vector: 0, recency: 0.15 },
};

const DAY_MS = 86_400_000;

/**
 * Hierarchical memory over any MemoryStore: episodes (what happened) are added cheaply; `consolidate` turns them
 * into keyed facts (latest wins, old versions kept) and per-topic summaries; `retrieve` ranks all levels by
 * keywords, vectors and recency.
 */
export class Memory {
  readonly store: MemoryStore;
  readonly scope: string;
  readonly #options: MemoryOptions;

  constructor(options: MemoryOptions) {
    this.store = options.store;
    this.scope = options.scope ?? DEFAULT_SCOPE;
    this.#options = options;
  }

  get embedder(): Embedder | undefined {
    return this.#options.embedder;
  }

  /** Stores an episode. No model call (an embedding, when an embedder is configured). */
  async add(text: string, options: AddOptions = {}): Promise<MemoryItem> {
    return this.#insertOne({ kind: "episode", text, ...this.#common(options) }, options.signal);
  }

  /** Stores a fact; a current fact with the same key and scope is superseded by it (kept in history). */
  async remember(fact: string, options: AddOptions & { key: string }): Promise<MemoryItem> {
    return this.#insertOne(
      { kind: "fact", text: fact, supersedeSameKey: true, ...this.#common(options) },
      options.signal,
    );
  }

  /** Stores many items in one transaction, embedding them first when an embedder is configured. */
  async insert(items: NewMemoryItem[], options: { signal?: AbortSignal } = {}): Promise<MemoryItem[]> {
    const embedder = this.#options.embedder;
    if (embedder) {
      const missing = items.filter((item) => item.embedding === undefined && item.text !== "");
      const vectors = await embedder.embed(
        missing.map((item) => item.text),
        options,
      );
      missing.forEach((item, index) => {
        item.embedding = vectors[index];
      });
    }
    options.signal?.throwIfAborted();
    return this.store.insert(items.map((item) => ({ scope: this.scope, ...item })));
  }

  async #insertOne(item: NewMemoryItem, signal?: AbortSignal): Promise<MemoryItem> {
    const [stored] = await this.insert([item], signal ? { signal } : {});
    return stored as MemoryItem;
  }

  #common(options: AddOptions): Omit<NewMemoryItem, "kind" | "text"> {
    return {
      scope: options.scope ?? this.scope,
      ...(options.key === undefined ? {} : { key: options.key }),
      ...(options.source === undefined ? {} : { source: options.source }),
      ...(options.metadata === undefined ? {} : { metadata: options.metadata }),
    };
  }

  /** Hybrid retrieval; superseded items only when `asOf` asks for the past. */
  async retrieve(query: string, options: RetrieveOptions = {}): Promise<MemoryHit[]> {
    const k = Math.max(1, Math.min(options.k ?? 5, 200));
    const asOf = options.asOf === undefined ? undefined : new Date(options.asOf).toISOString();
    const embedder = this.#options.embedder;
    const embedding =
      embedder && query.trim() !== ""
        ? (await embedder.embed([query], options.signal ? { signal: options.signal } : {}))[0]
        : undefined;
    options.signal?.throwIfAborted();
    const candidates = await this.store.search({
      text: query,
      ...(embedding ? { embedding } : {}),
      k: Math.max(k * 4, 20),
      scope: options.scope ?? this.scope,
      ...(options.kinds ? { kinds: options.kinds } : {}),
      ...(asOf ? { asOf } : {}),
    });
    const maxKeyword = Math.max(0, ...candidates.map((candidate) => candidate.keyword));
    const now = asOf ? Date.parse(asOf) : Date.now();
    const halfLife = (this.#options.halfLifeDays ?? 30) * DAY_MS;
    const weights = embedding && this.store.vectorSearch ? WEIGHTS.withVectors : WEIGHTS.keywordOnly;
    const hits = candidates.map(({ item, keyword, vector }) => {
      const age = Math.max(0, now - Date.parse(item.validFrom));
      const score = {
        keyword: maxKeyword > 0 ? keyword / maxKeyword : 0,
        vector: Math.max(0, Math.min(1, vector)),
        recency: 0.5 ** (age / halfLife),
        total: 0,
      };
      score.total =
        weights.keyword * score.keyword + weights.vector * score.vector + weights.recency * score.recency;
      return { item, score };
    });
    hits.sort((a, b) => b.score.total - a.score.total || (b.item.validFrom > a.item.validFrom ? 1 : -1) || 0);
    return hits.slice(0, k);
  }

  /** Episodes not yet consolidated become facts and summaries: one model call per batch. Idempotent. */
  async consolidate(options: ConsolidateOptions = {}): Promise<ConsolidationReport> {
    const model = options.model ?? this.#options.model;
    return consolidateEpisodes(this, { ...options, ...(model ? { model } : {}) });
  }

  forget(id: string, reason?: string): Promise<MemoryItem> {
    return this.store.forget(id, reason);
  }

  history(id: string): Promise<MemoryItem[]> {
    return this.store.history(id);
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

export function createMemory(options: MemoryOptions): Memory {
  return new Memory(options);
}
