import type { Pool } from "pg";
import { MemoryError } from "../../../errors/memory-error.ts";
import type { MemoryCandidate, MemoryItem, MemoryKind, MemoryQuery } from "../../../spec/memory-store.ts";
import { boundedKeywordSearch, type KeywordIndex, POSTINGS_PER_TERM } from "../bounded-keyword-search.ts";
import { canonicalTime, checkEmbedding, cosineSimilarity, isMemoryKind, queryTerms } from "../item-rules.ts";
import { decodeEmbedding, ITEM_COLUMNS, type ItemRow, rowToItem, SqlParams } from "./postgres-rows.ts";
import type { VectorIndex } from "./postgres-vectors.ts";

/**
 * Search inside indexes only: the GIN full-text index for keywords (ranked by boundedKeywordSearch, so the work
 * does not grow with the store); for vectors, pgvector's HNSW index, or
 * without pgvector a shortlist read through a partial index on `seq`: the most recent items with embeddings,
 * ranked by cosine similarity. Keyword matches always get their vector score too.
 */

const DEFAULT_K = 10;
const MAX_K = 1000;
/** Without pgvector, how many of the most recent embedded items vector search compares. */
export const VECTOR_SHORTLIST = 500;

interface CheckedQuery {
  terms: string[];
  embedding?: number[];
  k: number;
  scope?: string;
  kinds?: MemoryKind[];
  asOf?: string;
}

const invalid = (message: string) => new MemoryError({ message, reason: "invalid" });

export function checkQuery(query: MemoryQuery): CheckedQuery {
  if (typeof query !== "object" || query === null) throw invalid("a memory query must be an object");
  if (query.k !== undefined && (typeof query.k !== "number" || Number.isNaN(query.k))) {
    throw invalid("memory query k must be a number");
  }
  if (query.text !== undefined && typeof query.text !== "string") {
    throw invalid("memory query text must be a string");
  }
  // Like the other stores, k is clamped rather than refused.
  const k = Math.max(1, Math.min(Math.floor(query.k ?? DEFAULT_K), MAX_K));
  const checked: CheckedQuery = { terms: queryTerms(query.text), k };
  if (query.embedding !== undefined) checked.embedding = checkEmbedding(query.embedding);
  if (query.scope !== undefined) checked.scope = String(query.scope);
  if (query.kinds !== undefined) {
    if (!Array.isArray(query.kinds) || !query.kinds.every(isMemoryKind)) {
      throw invalid("memory query kinds must be a list of memory kinds");
    }
    // An empty list filters nothing out, as in the SQLite store.
    if (query.kinds.length > 0) checked.kinds = [...query.kinds];
  }
  if (query.asOf !== undefined) checked.asOf = canonicalTime(query.asOf, "asOf");
  return checked;
}

/** Conditions every candidate meets: not forgotten, in scope and kinds, valid now or at `asOf`. */
function candidateFilters(query: CheckedQuery, params: SqlParams): string[] {
  const where = ["forgotten_at IS NULL"];
  if (query.scope !== undefined) where.push(`scope = ${params.add(query.scope)}`);
  if (query.kinds !== undefined) where.push(`kind = ANY(${params.add(query.kinds)}::text[])`);
  if (query.asOf === undefined) {
    where.push("valid_to IS NULL");
  } else {
    const asOf = `${params.add(query.asOf)}::timestamptz`;
    where.push(`valid_from <= ${asOf}`, `(valid_to IS NULL OR valid_to > ${asOf})`);
  }
  return where;
}

export async function searchItems(
  pool: Pool,
  query: CheckedQuery,
  vectors: VectorIndex,
): Promise<MemoryCandidate[]> {
  const found = new Map<string, { item: MemoryItem; keyword: number }>();
  if (query.terms.length > 0) {
    for (const { row, score } of await keywordRows(pool, query)) {
      found.set(row.id, { item: rowToItem(row), keyword: score });
    }
  }
  if (query.embedding) {
    const rows = vectors.covers(query.embedding)
      ? await indexedNeighbours(pool, query, query.embedding, vectors)
      : await shortlistNeighbours(pool, query, query.embedding);
    for (const row of rows) if (!found.has(row.id)) found.set(row.id, { item: rowToItem(row), keyword: 0 });
  }
  const embedding = query.embedding;
  const candidates = [...found.values()].map(({ item, keyword }) => ({
    item,
    keyword,
    vector: embedding && item.embedding ? cosineSimilarity(item.embedding, embedding) : 0,
  }));
  return query.terms.length > 0
    ? candidates.sort((a, b) => b.keyword - a.keyword || b.vector - a.vector)
    : candidates.sort((a, b) => b.vector - a.vector);
}

interface ScoringRow {
  seq: number;
  text: string;
}

/**
 * Keyword candidates, ranked by boundedKeywordSearch: each term reads at most POSTINGS_PER_TERM + 1 item numbers
 * (newest first), only the best candidates' texts are read for scoring, and whole rows only for the k kept.
 *
 * Postings are read one statement per term, all in one round trip (UNION ALL), with the term as a parameter
 * turned into a tsquery by plainto_tsquery (never spliced into SQL). `pg` sends parameters with an unnamed
 * statement, so each statement is planned for its values, and the planner picks per term. Measured on 50K
 * items: for a common word, the `seq` index read backwards stops after the limit (0.2 to 2 ms, against 9 to 65 ms
 * to collect its matches through the GIN index and sort them); for a rare word, the GIN index (0.1 to 0.5 ms).
 * Between the two (about 1 to 2% of items) the planner may still walk backwards (8 ms where GIN took 2 ms).
 * Fetching matches through the GIN index first (a MATERIALIZED CTE) would read every match, which is the cost
 * this search is meant to avoid.
 */
async function keywordRows(pool: Pool, query: CheckedQuery): Promise<{ row: ItemRow; score: number }[]> {
  const params = new SqlParams();
  const limit = params.add(POSTINGS_PER_TERM + 1);
  const branches = query.terms.map((term, index) => {
    const tsquery = `plainto_tsquery('english'::regconfig, ${params.add(term)})`;
    // A word PostgreSQL drops (its stopwords) gives an empty tsquery: the one-time filter skips the scan.
    return `(SELECT ${index} AS term, seq FROM memory_items
              WHERE numnode(${tsquery}) > 0 AND search_text @@ ${tsquery} ORDER BY seq DESC LIMIT ${limit})`;
  });
  // `documentCount`: the highest seq bounds the number of items and costs one index probe (term -1).
  const { rows: postingRows } = await pool.query<{ term: number; seq: string | null }>(
    `(SELECT -1 AS term, max(seq) AS seq FROM memory_items) UNION ALL ${branches.join(" UNION ALL ")}`,
    params.values,
  );
  let documentCount = 0;
  const postings = new Map<string, number[]>();
  for (const { term, seq } of postingRows) {
    if (seq === null) continue;
    if (term < 0) documentCount = Number(seq);
    else {
      const name = query.terms[term] as string;
      postings.set(name, [...(postings.get(name) ?? []), Number(seq)]);
    }
  }
  for (const list of postings.values()) list.sort((a, b) => b - a);

  // boundedKeywordSearch asks for texts synchronously, batch after batch. It is run again until it asks for
  // none it lacks: each run fetches the first batch it lacked (later requests in that run, made on missing
  // texts, are not fetched), so the batches read are the ones a synchronous run would read, one round trip each.
  const texts = new Map<number, ScoringRow | null>();
  const readTexts = async (seqs: number[]) => {
    const filter = new SqlParams();
    const where = [`seq = ANY(${filter.add(seqs)}::bigint[])`, ...candidateFilters(query, filter)];
    const { rows } = await pool.query<{ seq: string; text: string }>(
      `SELECT seq, text FROM memory_items WHERE ${where.join(" AND ")}`,
      filter.values,
    );
    for (const seq of seqs) texts.set(seq, null);
    for (const row of rows) texts.set(Number(row.seq), { seq: Number(row.seq), text: row.text });
  };
  for (;;) {
    let missing: number[] = [];
    const index: KeywordIndex<ScoringRow> = {
      postings: (term, count) => (postings.get(term) ?? []).slice(0, count),
      rows: (seqs) => {
        if (missing.length > 0) return [];
        missing = seqs.filter((seq) => !texts.has(seq));
        if (missing.length > 0) return [];
        return seqs.flatMap((seq) => texts.get(seq) ?? []);
      },
      documentCount: () => documentCount,
    };
    const hits = boundedKeywordSearch(index, query.terms, query.k);
    if (missing.length > 0) {
      await readTexts(missing);
      continue;
    }
    if (hits.length === 0) return [];
    const filter = new SqlParams();
    const where = [
      `seq = ANY(${filter.add(hits.map((hit) => hit.row.seq))}::bigint[])`,
      ...candidateFilters(query, filter),
    ];
    const { rows } = await pool.query<ItemRow>(
      `SELECT ${ITEM_COLUMNS} FROM memory_items WHERE ${where.join(" AND ")}`,
      filter.values,
    );
    const bySeq = new Map(rows.map((row) => [Number(row.seq), row]));
    return hits.flatMap(({ row, score }) => {
      const full = bySeq.get(row.seq);
      return full ? [{ row: full, score }] : [];
    });
  }
}

/** Nearest neighbours through pgvector's HNSW index (filters apply to what the index returns). */
async function indexedNeighbours(
  pool: Pool,
  query: CheckedQuery,
  embedding: number[],
  vectors: VectorIndex,
): Promise<ItemRow[]> {
  const params = new SqlParams();
  const distance = vectors.distance(params.add(`[${embedding.join(",")}]`));
  const where = ["embedding_vector IS NOT NULL", ...candidateFilters(query, params)];
  const client = await pool.connect();
  try {
    await client.query("BEGIN");
    // The index search looks at ef_search entries before filtering: more than k, so filters leave enough.
    await client.query(`SET LOCAL hnsw.ef_search = ${Math.min(1000, Math.max(40, query.k * 4))}`);
    const { rows } = await client.query<ItemRow>(
      `SELECT ${ITEM_COLUMNS} FROM memory_items WHERE ${where.join(" AND ")} ORDER BY ${distance} LIMIT ${query.k}`,
      params.values,
    );
    await client.query("COMMIT");
    return rows;
  } catch (error) {
    await client.query("ROLLBACK").catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

/**
 * Without pgvector: the most recent embedded items that pass the filters (read backwards through a partial
 * index on `seq`), ranked here by cosine similarity; items of another dimension are passed over.
 */
async function shortlistNeighbours(pool: Pool, query: CheckedQuery, embedding: number[]): Promise<ItemRow[]> {
  const params = new SqlParams();
  const where = ["embedding IS NOT NULL", ...candidateFilters(query, params)];
  const { rows } = await pool.query<{ seq: string; embedding: Buffer }>(
    `SELECT seq, embedding FROM memory_items WHERE ${where.join(" AND ")}
      ORDER BY seq DESC LIMIT ${VECTOR_SHORTLIST}`,
    params.values,
  );
  const nearest = rows
    .filter((row) => row.embedding.length === embedding.length * 8)
    .map((row) => ({ seq: row.seq, similarity: cosineSimilarity(decodeEmbedding(row.embedding), embedding) }))
    .sort((a, b) => b.similarity - a.similarity)
    .slice(0, query.k);
  if (nearest.length === 0) return [];
  const { rows: items } = await pool.query<ItemRow>(
    `SELECT ${ITEM_COLUMNS} FROM memory_items WHERE seq = ANY($1::bigint[]) AND forgotten_at IS NULL`,
    [nearest.map((entry) => entry.seq)],
  );
  return items;
}
