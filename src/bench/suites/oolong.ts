import { Random, seedOf } from "../random.ts";
import { type BenchSuite, CHARS_PER_TOKEN, containsScore, numericScore } from "../suite.ts";
import { formatItem, LABEL_HELP, LABELS, type Label, labelledItems } from "./labelled-items.ts";

function counts<T>(values: T[]): Map<T, number> {
  const result = new Map<T, number>();
  for (const value of values) result.set(value, (result.get(value) ?? 0) + 1);
  return result;
}

/**
 * OOLONG-synth style: many dated, labelled items from skewed users; the model must classify items to count and
 * compare labels. Numeric answers score 0.75^|error|, others exact match.
 */
export const oolongSuite: BenchSuite = {
  name: "oolong",
  description: "count and compare semantic labels over many dated items from skewed users",
  generate(sizeTokens, seed, index) {
    const random = new Random(seedOf("oolong", seed, sizeTokens, index));
    const items = labelledItems(random, sizeTokens * CHARS_PER_TOKEN, 30);
    const context = items.map(formatItem).join("\n");
    const labelCounts = counts(items.map((item) => item.label));
    const kind = index % 3;
    const id = `oolong-${sizeTokens}-${index}`;
    if (kind === 0) {
      const label = random.pick(LABELS);
      const expected = labelCounts.get(label) ?? 0;
      return {
        id,
        context,
        query: `${LABEL_HELP} How many items have the label ${label}? Answer with a number.`,
        expected: String(expected),
        score: (answer) => numericScore(answer, expected),
      };
    }
    if (kind === 1) {
      const byUser = new Map<number, Label[]>();
      for (const item of items) byUser.set(item.user, [...(byUser.get(item.user) ?? []), item.label]);
      const candidates = [...byUser.entries()].filter(([, labels]) => {
        const sorted = [...counts(labels).values()].sort((a, b) => b - a);
        return labels.length >= 3 && (sorted[0] ?? 0) > (sorted[1] ?? 0);
      });
      const [user, labels] =
        candidates.length > 0 ? random.pick(candidates) : ([...byUser.entries()][0] as [number, Label[]]);
      const best = [...counts(labels).entries()].sort((a, b) => b[1] - a[1])[0]?.[0] ?? "numeric";
      return {
        id,
        context,
        query: `${LABEL_HELP} Which label is most common among the items of user ${user}? Answer with the label only.`,
        expected: best,
        score: (answer) => containsScore(answer, best),
      };
    }
    const ordered = [...LABELS].sort((a, b) => (labelCounts.get(b) ?? 0) - (labelCounts.get(a) ?? 0));
    const pairs = ordered
      .flatMap((a, i) => ordered.slice(i + 1).map((b) => [a, b] as const))
      .filter(([a, b]) => labelCounts.get(a) !== labelCounts.get(b));
    const [first, second] = random.pick(pairs.length > 0 ? pairs : [["numeric", "person"] as const]);
    const [left, right] = random.next() < 0.5 ? [first, second] : [second, first];
    const expected = (labelCounts.get(left) ?? 0) > (labelCounts.get(right) ?? 0) ? "yes" : "no";
    return {
      id,
      context,
      query: `${LABEL_HELP} Are there more items with the label ${left} than with the label ${right}? Answer yes or no.`,
      expected,
      score: (answer) => containsScore(answer, expected),
    };
  },
};
