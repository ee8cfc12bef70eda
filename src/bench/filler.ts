import type { Random } from "./random.ts";
import { ADJECTIVES, NOUNS, VERBS } from "./words.ts";

/** One generated sentence of harmless filler. */
export function fillerSentence(random: Random): string {
  const shape = random.int(0, 3);
  const a = `${random.pick(ADJECTIVES)} ${random.pick(NOUNS)}`;
  const b = `${random.pick(ADJECTIVES)} ${random.pick(NOUNS)}`;
  switch (shape) {
    case 0:
      return `The ${a} ${random.pick(VERBS)} the ${b}.`;
    case 1:
      return `Near the ${b}, someone ${random.pick(VERBS)} a ${a} at dawn.`;
    case 2:
      return `Nobody ever ${random.pick(VERBS)} the ${a} twice.`;
    default:
      return `A ${a} stood beside the ${b} for a while.`;
  }
}

/** About `chars` characters of filler in lines of a few sentences. */
export function fillerLines(random: Random, chars: number): string[] {
  const lines: string[] = [];
  let size = 0;
  while (size < chars) {
    const count = random.int(2, 5);
    const line = Array.from({ length: count }, () => fillerSentence(random)).join(" ");
    lines.push(line);
    size += line.length + 1;
  }
  return lines;
}

/** Inserts `items` into `lines` at the given fractions of depth (0 = start, 1 = end), in order. */
export function insertAtDepths(lines: string[], items: Array<{ text: string; depth: number }>): string[] {
  const result = [...lines];
  const sorted = [...items].sort((left, right) => right.depth - left.depth);
  for (const item of sorted) {
    const at = Math.max(0, Math.min(result.length, Math.round(item.depth * result.length)));
    result.splice(at, 0, item.text);
  }
  return result;
}
