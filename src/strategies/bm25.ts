/** Lower-case word tokens (letters and digits). */
export function terms(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}]+/gu) ?? [];
}

/** Okapi BM25 over a fixed set of passages. */
export class Bm25Index {
  private readonly k1: number;
  private readonly b: number;
  private readonly frequencies: Array<Map<string, number>>;
  private readonly lengths: number[];
  private readonly averageLength: number;
  private readonly documentFrequency = new Map<string, number>();

  constructor(passages: string[], k1 = 1.2, b = 0.75) {
    this.k1 = k1;
    this.b = b;
    this.frequencies = passages.map((passage) => {
      const counts = new Map<string, number>();
      for (const term of terms(passage)) counts.set(term, (counts.get(term) ?? 0) + 1);
      for (const term of counts.keys())
        this.documentFrequency.set(term, (this.documentFrequency.get(term) ?? 0) + 1);
      return counts;
    });
    this.lengths = this.frequencies.map((counts) =>
      [...counts.values()].reduce((sum, count) => sum + count, 0),
    );
    this.averageLength =
      this.lengths.reduce((sum, length) => sum + length, 0) / Math.max(1, this.lengths.length);
  }

  /** Indexes of the best `k` passages for the query, best first. */
  search(query: string, k: number): number[] {
    const total = this.frequencies.length;
    const queryTerms = [...new Set(terms(query))];
    const scores = this.frequencies.map((counts, index) => {
      let score = 0;
      for (const term of queryTerms) {
        const frequency = counts.get(term);
        if (frequency === undefined) continue;
        const documents = this.documentFrequency.get(term) ?? 0;
        const idf = Math.log(1 + (total - documents + 0.5) / (documents + 0.5));
        const norm = 1 - this.b + (this.b * (this.lengths[index] ?? 0)) / (this.averageLength || 1);
        score += (idf * frequency * (this.k1 + 1)) / (frequency + this.k1 * norm);
      }
      return { index, score };
    });
    return scores
      .sort((left, right) => right.score - left.score || left.index - right.index)
      .slice(0, k)
      .map((entry) => entry.index);
  }
}
