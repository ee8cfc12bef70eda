import { fillerLines, insertAtDepths } from "../filler.ts";
import { Random, seedOf } from "../random.ts";
import { type BenchSuite, CHARS_PER_TOKEN, normalize } from "../suite.ts";
import { ADJECTIVES, NOUNS } from "../words.ts";

/** Single needle in a haystack (RULER S-NIAH style): one 7-digit number at a chosen depth; exact match. */
export const sniahSuite: BenchSuite = {
  name: "sniah",
  description: "one 7-digit magic number hidden at a chosen depth in filler; exact match",
  generate(sizeTokens, seed, index) {
    const random = new Random(seedOf("sniah", seed, sizeTokens, index));
    const key = `${random.pick(ADJECTIVES)}-${random.pick(NOUNS)}`;
    const number = String(random.int(1_000_000, 9_999_999));
    const depth = (index * 0.37 + random.next() * 0.1) % 1;
    const needle = `The special magic number for ${key} is ${number}.`;
    const lines = insertAtDepths(fillerLines(random, sizeTokens * CHARS_PER_TOKEN - needle.length), [
      { text: needle, depth },
    ]);
    return {
      id: `sniah-${sizeTokens}-${index}`,
      context: lines.join("\n"),
      query: `What is the special magic number for ${key} mentioned in the text? Answer with the number only.`,
      expected: number,
      score(answer) {
        const numbers = normalize(answer).match(/\d{7}/g) ?? [];
        return numbers.length > 0 && numbers.every((found) => found === number) ? 1 : 0;
      },
    };
  },
};
