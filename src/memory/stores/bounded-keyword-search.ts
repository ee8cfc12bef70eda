/**
 * Keyword ranking whose work is bounded by POSTINGS_PER_TERM, not by the store's size.
 *
 * A full-text index answers "which items hold this word" fast, but ranking every match with BM25 costs time in
 * proportion to the matches, and a common word matches a fixed share of the store: at 100K items, ranking took
 * 50 times as long as at 1K. Here each query term reads at most POSTINGS_PER_TERM item numbers from the index,
 * newest first (for a rare word: all of them, so its document frequency is exact; for a common word: the
 * newest, and its weight is small anyway). Candidates are ordered by the sum of their terms' IDF, which bounds
 * their BM25 score from above, and scored in that order in batches, with BM25 on the item's text, until no
 * remaining candidate could enter the top k, or MAX_SCORED_ROWS were scored.
 */

/** Item numbers (rowids) read per query term, at most. */
export const POSTINGS_PER_TERM = 300;
/** Items whose text is scored per query, at most (the best candidates by their bound). */
const MAX_SCORED_ROWS = 100;
const K1 = 1.2;
const B = 0.75;

export interface KeywordIndex<Row> {
  /** Rowids of items whose text holds the term (as the index tokenizes it), newest first, at most `limit`. */
  postings(term: string, limit: number): number[];
  /** The rows among `rowids` that pass the query's filters (validity, scope, kinds), in any order. */
  rows(rowids: number[]): Row[];
  /** About how many items the index holds (an upper bound is fine). */
  documentCount(): number;
}

export interface ScoredRow<Row> {
  row: Row;
  score: number;
}

function idf(documentCount: number, documentFrequency: number): number {
  return Math.log(1 + (documentCount - documentFrequency + 0.5) / (documentFrequency + 0.5));
}

/** The words of a text as the scoring sees them (lower-case letters and digits). */
function words(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/**
 * How often a query term occurs among a text's words. The index may stem ("lives" finds "live"), so a word
 * counts when it shares the term's stem-like prefix; an item the index says holds the term counts at least once.
 */
function termFrequency(textWords: string[], term: string, indexed: boolean): number {
  const prefix = term.length > 4 ? term.slice(0, Math.max(4, term.length - 2)) : term;
  let count = 0;
  for (const word of textWords) if (word === term || (prefix !== term && word.startsWith(prefix))) count++;
  return Math.max(count, indexed ? 1 : 0);
}

export function boundedKeywordSearch<Row extends { seq: number; text: string }>(
  index: KeywordIndex<Row>,
  terms: string[],
  k: number,
): ScoredRow<Row>[] {
  const documentCount = Math.max(1, index.documentCount());
  const lists = terms
    .map((term) => {
      const rowids = index.postings(term, POSTINGS_PER_TERM + 1);
      const complete = rowids.length <= POSTINGS_PER_TERM;
      // A list cut at the bound tells only that the word is at least that common.
      return {
        term,
        members: new Set(rowids.slice(0, POSTINGS_PER_TERM)),
        weight: idf(documentCount, rowids.length),
        complete,
      };
    })
    .filter((list) => list.members.size > 0);
  if (lists.length === 0) return [];
  // An item's bound: the weights of the words the index says it holds. (An older item may also hold a common
  // word whose list was cut; such a word's weight is small, so the order stays close to the true one.)
  const bound = new Map<number, number>();
  for (const list of lists) {
    for (const rowid of list.members) bound.set(rowid, (bound.get(rowid) ?? 0) + list.weight);
  }
  // Highest possible score first; newer items first among equals.
  const order = [...bound].sort((a, b) => b[1] - a[1] || b[0] - a[0]);
  const batch = Math.max(k * 4, 40);
  const scored: ScoredRow<Row>[] = [];
  let lengthSum = 0;
  let lengthCount = 0;
  const last = Math.min(order.length, Math.max(k * 10, MAX_SCORED_ROWS));
  for (let start = 0; start < last; start += batch) {
    const slice = order.slice(start, Math.min(start + batch, last));
    const rows = index.rows(slice.map(([rowid]) => rowid));
    const rowWords = rows.map((row) => words(row.text));
    for (const list of rowWords) {
      lengthSum += list.length;
      lengthCount++;
    }
    const averageLength = lengthCount > 0 ? Math.max(1, lengthSum / lengthCount) : 1;
    rows.forEach((row, position) => {
      const textWords = rowWords[position] ?? [];
      const norm = K1 * (1 - B + (B * textWords.length) / averageLength);
      let score = 0;
      for (const list of lists) {
        const tf = termFrequency(textWords, list.term, list.members.has(row.seq));
        if (tf > 0) score += (list.weight * (tf * (K1 + 1))) / (tf + norm);
      }
      scored.push({ row, score });
    });
    scored.sort((a, b) => b.score - a.score);
    const kth = scored[k - 1]?.score;
    const next = start + batch < last ? order[start + batch]?.[1] : undefined;
    // BM25 gives a term at most weight * (K1 + 1): no later candidate can beat the k-th score.
    if (kth !== undefined && (next === undefined || next * (K1 + 1) < kth)) break;
  }
  return scored.slice(0, k);
}
