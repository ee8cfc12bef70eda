import type { Pool, PoolClient } from "pg";
import type { CheckedItem } from "../item-rules.ts";

/**
 * The pgvector side of the store, used only where the `vector` extension is installed. An HNSW index needs
 * one dimension: the first embedding stored decides it (kept in memory_meta), and only embeddings of that
 * dimension get a copy in `embedding_vector`. Others stay exact in `embedding` and are found through the
 * shortlist that vector search uses without pgvector.
 */

/** pgvector's HNSW index takes `vector` columns of at most this many dimensions. */
const MAX_INDEXED_DIMENSIONS = 2000;
const DIMENSIONS_SETTING = "vector_dimensions";

export class VectorIndex {
  readonly enabled: boolean;
  private dimensions: number | undefined;

  constructor(enabled: boolean) {
    this.enabled = enabled;
  }

  /** Reads the dimension decided earlier (by this or another process). */
  async refresh(db: Pool | PoolClient): Promise<void> {
    if (!this.enabled || this.dimensions !== undefined) return;
    const { rows } = await db.query<{ value: string }>("SELECT value FROM memory_meta WHERE name = $1", [
      DIMENSIONS_SETTING,
    ]);
    if (rows[0]) this.dimensions = Number(rows[0].value);
  }

  /**
   * Inside an insert's transaction: when no dimension is decided yet, the first indexable embedding decides
   * it and its index is created. ON CONFLICT makes a second process wait for the first and then take its
   * decision. Embeddings stored before (without pgvector) stay out of the index.
   */
  async prepare(client: PoolClient, items: readonly CheckedItem[]): Promise<void> {
    if (!this.enabled || !items.some((item) => item.embedding)) return;
    await this.refresh(client);
    if (this.dimensions !== undefined) return;
    const first = items.find((item) => item.embedding && item.embedding.length <= MAX_INDEXED_DIMENSIONS);
    if (!first?.embedding) return;
    const { rows } = await client.query<{ value: string }>(
      "INSERT INTO memory_meta (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING RETURNING value",
      [DIMENSIONS_SETTING, String(first.embedding.length)],
    );
    if (!rows[0]) {
      await this.refresh(client);
      return;
    }
    const dimensions = first.embedding.length;
    await client.query(
      `CREATE INDEX IF NOT EXISTS memory_items_embedding_hnsw ON memory_items
        USING hnsw ((embedding_vector::vector(${dimensions})) vector_cosine_ops)`,
    );
    this.dimensions = dimensions;
  }

  /** The `embedding_vector` value for an embedding: pgvector's text form, or null when it is not indexed. */
  columnValue(embedding: readonly number[] | undefined): string | null {
    return embedding && embedding.length === this.dimensions ? `[${embedding.join(",")}]` : null;
  }

  /** Whether a query embedding can be answered by the index. */
  covers(embedding: readonly number[]): boolean {
    return this.enabled && embedding.length === this.dimensions;
  }

  /** The ORDER BY expression the index serves (it must match the indexed expression exactly). */
  distance(placeholder: string): string {
    const dimensions = this.dimensions ?? 0;
    return `(embedding_vector::vector(${dimensions})) <=> ${placeholder}::vector(${dimensions})`;
  }
}
