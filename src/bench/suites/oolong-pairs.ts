import { Random, seedOf } from "../random.ts";
import { type BenchSuite, CHARS_PER_TOKEN } from "../suite.ts";
import { formatItem, LABEL_HELP, LABELS, type Label, labelledItems } from "./labelled-items.ts";

/** Pairs `(a, b)` with a < b read from an answer. */
export function parsePairs(answer: unknown): Set<string> {
  const text = typeof answer === "string" ? answer : JSON.stringify(answer ?? "");
  const pairs = new Set<string>();
  for (const match of text.matchAll(/(\d{3,})\D{1,6}?(\d{3,})/g)) {
    const a = Number(match[1]);
    const b = Number(match[2]);
    if (a !== b) pairs.add(`${Math.min(a, b)},${Math.max(a, b)}`);
  }
  return pairs;
}

/** F1 of two sets of pairs. */
export function pairF1(found: Set<string>, expected: Set<string>): number {
  if (expected.size === 0) return found.size === 0 ? 1 : 0;
  let hits = 0;
  for (const pair of found) if (expected.has(pair)) hits++;
  if (hits === 0) return 0;
  const precision = hits / found.size;
  const recall = hits / expected.size;
  return (2 * precision * recall) / (precision + recall);
}

/** OOLONG-Pairs style: every pair of users whose items meet a condition; scored by F1. */
export const oolongPairsSuite: BenchSuite = {
  name: "oolong-pairs",
  description: "list every pair of user ids whose items meet a label condition; F1",
  generate(sizeTokens, seed, index) {
    const random = new Random(seedOf("oolong-pairs", seed, sizeTokens, index));
    const items = labelledItems(random, sizeTokens * CHARS_PER_TOKEN, 14);
    const countsOf = new Map<number, Map<Label, number>>();
    for (const item of items) {
      const counts = countsOf.get(item.user) ?? new Map<Label, number>();
      counts.set(item.label, (counts.get(item.label) ?? 0) + 1);
      countsOf.set(item.user, counts);
    }
    const [x, y] = random.shuffle([...LABELS]).slice(0, 2) as [Label, Label];
    const countOf = (user: number, label: Label) => countsOf.get(user)?.get(label) ?? 0;
    const allUsers = [...countsOf.keys()];
    let condition: string;
    let meets: (user: number) => boolean;
    if (index % 2 === 0) {
      const sorted = allUsers.map((user) => countOf(user, x)).sort((a, b) => a - b);
      const threshold = Math.max(1, sorted[Math.floor(sorted.length * 0.6)] ?? 1);
      condition = `at least ${threshold} items labelled ${x}`;
      meets = (user) => countOf(user, x) >= threshold;
    } else {
      condition = `more items labelled ${x} than items labelled ${y}`;
      meets = (user) => countOf(user, x) > countOf(user, y);
    }
    const users = allUsers.filter(meets).sort((a, b) => a - b);
    const expected = new Set<string>();
    for (let i = 0; i < users.length; i++)
      for (let j = i + 1; j < users.length; j++) expected.add(`${users[i]},${users[j]}`);
    return {
      id: `oolong-pairs-${sizeTokens}-${index}`,
      context: items.map(formatItem).join("\n"),
      query: `${LABEL_HELP} List every pair of user ids where both users have ${condition}. Write each pair as (smaller id, larger id), one per line.`,
      expected: [...expected].map((pair) => `(${pair.replace(",", ", ")})`).join(" "),
      score: (answer) => pairF1(parsePairs(answer), expected),
    };
  },
};
