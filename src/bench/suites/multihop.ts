import { fillerLines, insertAtDepths } from "../filler.ts";
import { Random, seedOf } from "../random.ts";
import { type BenchSuite, CHARS_PER_TOKEN, containsScore } from "../suite.ts";
import { CITIES, madeUpName } from "../words.ts";

/** Two linked facts far apart ("X directed Y", "X lives in Z"), with distractors; exact match. */
export const multihopSuite: BenchSuite = {
  name: "multihop",
  description: "two linked facts far apart: who directed a film, and where that person lives",
  generate(sizeTokens, seed, index) {
    const random = new Random(seedOf("multihop", seed, sizeTokens, index));
    const pick = (items: readonly string[]) => random.pick(items);
    const people = Array.from({ length: 4 }, () => `${madeUpName(pick, 2)} ${madeUpName(pick, 3)}`);
    const films = people.map(
      () =>
        `The ${madeUpName(pick, 2)} ${random.pick(["Affair", "Letters", "Harvest", "Crossing", "Winter"])}`,
    );
    const cities = random.shuffle([...CITIES]).slice(0, people.length);
    const facts = people.flatMap((person, at) => [
      { text: `${person} directed the film ${films[at]}.`, depth: 0.05 + random.next() * 0.4 },
      { text: `${person} lives in ${cities[at]}.`, depth: 0.55 + random.next() * 0.4 },
    ]);
    const target = index % people.length;
    const budget = sizeTokens * CHARS_PER_TOKEN - facts.reduce((sum, fact) => sum + fact.text.length, 0);
    const expected = cities[target] as string;
    return {
      id: `multihop-${sizeTokens}-${index}`,
      context: insertAtDepths(fillerLines(random, budget), facts).join("\n"),
      query: `In which city does the director of the film ${films[target]} live? Answer with the city only.`,
      expected,
      score: (answer) => containsScore(answer, expected),
    };
  },
};
