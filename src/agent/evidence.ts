/**
 * The evidence of an agent run (what its tools returned) and the part of it that fits a check: whole when it fits,
 * else the passages that share the most words with each claim, taken in turn for every claim.
 */

/** One tool output that counts as evidence (ask_llm's unverified answers and memory_add do not). */
export interface Evidence {
  /** E1, E2, ... in the order the calls ended. */
  id: string;
  tool: string;
  /** The call's arguments as JSON (cut). */
  args: string;
  text: string;
}

/** Tools whose output is no evidence: a guess of another model, or a write. */
export const NOT_EVIDENCE = new Set(["ask_llm", "memory_add"]);

/** Characters of one passage when the evidence must be cut to fit. */
const PASSAGE_CHARS = 1_200;
/** Characters of one output read when choosing passages (a larger one is read from its start only). */
const MAX_SCAN_CHARS_PER_OUTPUT = 1_000_000;
/** Characters read over all outputs when choosing passages. */
const MAX_SCAN_CHARS = 4_000_000;

const STOP_WORDS = new Set(
  "a an and are as at be been but by can did do does for from had has have he her his how i if in into is it its of on or our she so than that the their them then there these they this those to was we were what when where which who why will with you your not no yes also".split(
    " ",
  ),
);

/** The words of a text that say something (lower case, stop words and single letters left out). */
export function termsOf(text: string): Set<string> {
  const terms = new Set<string>();
  for (const match of text.toLowerCase().matchAll(/[\p{L}\p{N}]+/gu)) {
    const word = match[0];
    if (STOP_WORDS.has(word)) continue;
    if (word.length === 1 && !/\d/.test(word)) continue;
    terms.add(word);
  }
  return terms;
}

/** `&`, `<` and `>` escaped (newlines kept), so tool output cannot close the fence it is shown in. */
export function escapeMarkup(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function header(item: Evidence, part?: { index: number; of: number }): string {
  const args = item.args.length > 200 ? `${item.args.slice(0, 200)}...` : item.args;
  return `[${item.id} · ${item.tool} ${args}${part ? ` · part ${part.index + 1} of ${part.of}` : ""}]`;
}

interface Passage {
  item: Evidence;
  index: number;
  of: number;
  text: string;
  terms: Set<string>;
}

function passagesOf(items: readonly Evidence[]): Passage[] {
  const passages: Passage[] = [];
  let scanned = 0;
  for (const item of items) {
    const text = item.text.slice(
      0,
      Math.min(MAX_SCAN_CHARS_PER_OUTPUT, Math.max(0, MAX_SCAN_CHARS - scanned)),
    );
    scanned += text.length;
    const of = Math.max(1, Math.ceil(text.length / PASSAGE_CHARS));
    for (let index = 0; index < of; index++) {
      const part = text.slice(index * PASSAGE_CHARS, (index + 1) * PASSAGE_CHARS);
      passages.push({ item, index, of, text: part, terms: termsOf(part) });
    }
  }
  return passages;
}

/** How many of a claim's words a passage holds (numbers count double: they are what claims get wrong). */
function overlap(claim: Set<string>, passage: Set<string>): number {
  let score = 0;
  for (const term of claim) if (passage.has(term)) score += /\d/.test(term) ? 2 : 1;
  return score;
}

/**
 * The evidence as text for the check, at most `maxChars` (escaped, with an `[E3 · tool args]` header per output).
 * When all of it does not fit, passages are chosen in turns: each claim takes its best passage not taken yet, until
 * the room is used; they are shown in their outputs' order. `ids` are the evidence ids shown.
 */
export function selectEvidence(
  items: readonly Evidence[],
  claims: readonly string[],
  maxChars: number,
): { text: string; ids: Set<string> } {
  const whole = items.map((item) => `${header(item)}\n${escapeMarkup(item.text)}`);
  const wholeSize = whole.reduce((sum, part) => sum + part.length + 1, 0);
  if (wholeSize <= maxChars) return { text: whole.join("\n"), ids: new Set(items.map((item) => item.id)) };

  const passages = passagesOf(items);
  const claimTerms = claims.map(termsOf);
  const rankings = claimTerms.map((terms) =>
    passages
      .map((passage, order) => ({ order, score: overlap(terms, passage.terms) }))
      .sort((a, b) => b.score - a.score || a.order - b.order),
  );
  if (rankings.length === 0) rankings.push(passages.map((_, order) => ({ order, score: 0 })));
  const chosen = new Set<number>();
  const cursors = rankings.map(() => 0);
  let room = maxChars;
  let progress = true;
  while (progress && room > 0) {
    progress = false;
    for (const [claim, ranking] of rankings.entries()) {
      let cursor = cursors[claim] as number;
      while (cursor < ranking.length && chosen.has((ranking[cursor] as { order: number }).order)) cursor++;
      cursors[claim] = cursor;
      if (cursor >= ranking.length) continue;
      const order = (ranking[cursor] as { order: number }).order;
      const passage = passages[order] as Passage;
      const size = header(passage.item, passage).length + escapeMarkup(passage.text).length + 2;
      if (size > room) continue;
      chosen.add(order);
      room -= size;
      progress = true;
    }
  }
  const shown = [...chosen].sort((a, b) => a - b).map((order) => passages[order] as Passage);
  return {
    text: shown
      .map(
        (passage) =>
          `${header(passage.item, passage.of > 1 ? passage : undefined)}\n${escapeMarkup(passage.text)}`,
      )
      .join("\n"),
    ids: new Set(shown.map((passage) => passage.item.id)),
  };
}
