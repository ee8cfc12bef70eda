import type { Random } from "../random.ts";
import { ADJECTIVES, CITIES, NOUNS, PEOPLE } from "../words.ts";

/** The six coarse labels; an item's label is the kind of answer its question asks for. */
export const LABELS = ["numeric", "location", "person", "description", "entity", "abbreviation"] as const;
export type Label = (typeof LABELS)[number];

const TEMPLATES: Record<Label, Array<(random: Random) => string>> = {
  numeric: [
    (r) => `How many ${r.pick(NOUNS)}s fit inside the ${r.pick(ADJECTIVES)} ${r.pick(NOUNS)}?`,
    (r) => `In what year was the ${r.pick(NOUNS)} of ${r.pick(CITIES)} built?`,
  ],
  location: [
    (r) => `Where is the ${r.pick(ADJECTIVES)} ${r.pick(NOUNS)} kept?`,
    (r) => `In which town can one find the ${r.pick(NOUNS)} museum?`,
  ],
  person: [
    (r) => `Who painted the ${r.pick(ADJECTIVES)} ${r.pick(NOUNS)}?`,
    (r) => `Which musician wrote the song about ${r.pick(PEOPLE)}?`,
  ],
  description: [
    (r) => `Why does the ${r.pick(NOUNS)} look so ${r.pick(ADJECTIVES)}?`,
    (r) => `What does it mean when a ${r.pick(NOUNS)} turns ${r.pick(ADJECTIVES)}?`,
  ],
  entity: [
    (r) => `What kind of bird nests in the ${r.pick(NOUNS)}?`,
    (r) => `Which instrument is shaped like a ${r.pick(NOUNS)}?`,
  ],
  abbreviation: [
    (r) =>
      `What does the abbreviation ${String.fromCharCode(65 + r.int(0, 25), 65 + r.int(0, 25), 65 + r.int(0, 25))} stand for?`,
    (r) =>
      `What is the full form of ${String.fromCharCode(65 + r.int(0, 25), 65 + r.int(0, 25))}-${r.int(2, 9)}?`,
  ],
};

export interface LabelledItem {
  date: string;
  user: number;
  text: string;
  label: Label;
}

/** Items from a skewed set of users (a few write most lines), with dates in 2023, until `chars` of text. */
export function labelledItems(random: Random, chars: number, users: number): LabelledItem[] {
  const ids = Array.from({ length: users }, () => random.int(10_000, 99_999));
  const weights = ids.map((_, rank) => 1 / (rank + 1) ** 1.1);
  const total = weights.reduce((sum, weight) => sum + weight, 0);
  const labelWeights = LABELS.map(() => 0.5 + random.next());
  const labelTotal = labelWeights.reduce((sum, weight) => sum + weight, 0);
  const draw = <T>(items: readonly T[], itemWeights: number[], sum: number): T => {
    let at = random.next() * sum;
    for (let index = 0; index < items.length; index++) {
      at -= itemWeights[index] ?? 0;
      if (at <= 0) return items[index] as T;
    }
    return items[items.length - 1] as T;
  };
  const items: LabelledItem[] = [];
  let size = 0;
  while (size < chars) {
    const label = draw(LABELS, labelWeights, labelTotal);
    const month = String(random.int(1, 12)).padStart(2, "0");
    const day = String(random.int(1, 28)).padStart(2, "0");
    const item = {
      date: `2023-${month}-${day}`,
      user: draw(ids, weights, total),
      text: random.pick(TEMPLATES[label])(random),
      label,
    };
    items.push(item);
    size += formatItem(item).length + 1;
  }
  return items;
}

export function formatItem(item: LabelledItem): string {
  return `Date: ${item.date} || User: ${item.user} || Instance: ${item.text}`;
}

export const LABEL_HELP = `Each line is one item. Its label is not written: it is the kind of answer the item's question asks for, one of ${LABELS.join(", ")}.`;
