import { fillerLines, insertAtDepths } from "../filler.ts";
import { Random, seedOf } from "../random.ts";
import { type BenchSuite, CHARS_PER_TOKEN, containsScore, firstNumber } from "../suite.ts";
import { OBJECTS, PEOPLE, ROOMS } from "../words.ts";

interface Story {
  facts: string[];
  query: string;
  expected: string;
  numeric: boolean;
}

/** qa1: the last place a person moved to. */
function singleFact(random: Random): Story {
  const people = random.shuffle([...PEOPLE]).slice(0, 3);
  const where = new Map<string, string>();
  const facts: string[] = [];
  for (let step = 0; step < 6; step++) {
    const person = random.pick(people);
    const room = random.pick(ROOMS);
    where.set(person, room);
    facts.push(`${person} ${random.pick(["moved", "went", "travelled", "journeyed"])} to the ${room}.`);
  }
  const person = random.pick([...where.keys()]);
  return { facts, query: `Where is ${person}?`, expected: where.get(person) as string, numeric: false };
}

/** qa2: where an object is, from who picked it up and where they went. */
function twoFacts(random: Random): Story {
  const [holder, other] = random.shuffle([...PEOPLE]).slice(0, 2) as [string, string];
  const object = random.pick(OBJECTS);
  const first = random.pick(ROOMS);
  const last = random.pick(ROOMS.filter((room) => room !== first));
  const facts = [
    `${holder} went to the ${first}.`,
    `${other} went to the ${random.pick(ROOMS)}.`,
    `${holder} picked up the ${object}.`,
    `${other} went to the ${random.pick(ROOMS)}.`,
    `${holder} went to the ${last}.`,
  ];
  return { facts, query: `Where is the ${object}?`, expected: last, numeric: false };
}

/** qa3: where an object was before it reached its last place. */
function threeFacts(random: Random): Story {
  const holder = random.pick(PEOPLE);
  const object = random.pick(OBJECTS);
  const [a, b, c] = random.shuffle([...ROOMS]).slice(0, 3) as [string, string, string];
  const facts = [
    `${holder} went to the ${a}.`,
    `${holder} grabbed the ${object}.`,
    `${holder} went to the ${b}.`,
    `${holder} went to the ${c}.`,
    `${holder} left the ${object}.`,
  ];
  return { facts, query: `Where was the ${object} before the ${c}?`, expected: b, numeric: false };
}

/** qa7: how many objects someone carries after taking and dropping some. */
function counting(random: Random): Story {
  const person = random.pick(PEOPLE);
  const carried = new Set<string>();
  const facts: string[] = [];
  for (let step = 0; step < 6; step++) {
    const object = random.pick(OBJECTS);
    if (carried.has(object) && random.next() < 0.6) {
      carried.delete(object);
      facts.push(`${person} put down the ${object}.`);
    } else if (!carried.has(object)) {
      carried.add(object);
      facts.push(`${person} took the ${object}.`);
    }
  }
  return {
    facts,
    query: `How many objects is ${person} carrying?`,
    expected: String(carried.size),
    numeric: true,
  };
}

const STORIES = [singleFact, twoFacts, threeFacts, counting];

/** BABILong style: bAbI facts (single fact, two- and three-fact chains, counting) scattered in long filler. */
export const babilongSuite: BenchSuite = {
  name: "babilong",
  description: "bAbI-style facts (qa1, qa2, qa3, qa7) scattered in long filler; exact match",
  generate(sizeTokens, seed, index) {
    const random = new Random(seedOf("babilong", seed, sizeTokens, index));
    const story = (STORIES[index % STORIES.length] as (random: Random) => Story)(random);
    const depths = story.facts.map(() => random.next()).sort((a, b) => a - b);
    const budget = sizeTokens * CHARS_PER_TOKEN - story.facts.join(" ").length;
    const lines = insertAtDepths(
      fillerLines(random, budget),
      story.facts.map((text, at) => ({ text, depth: depths[at] as number })),
    );
    const answerHint = story.numeric ? "Answer with a number." : "Answer with one word.";
    return {
      id: `babilong-${sizeTokens}-${index}`,
      context: lines.join("\n"),
      query: `${story.query} ${answerHint}`,
      expected: story.expected,
      score: (answer) =>
        story.numeric
          ? Number(firstNumber(answer) === Number(story.expected))
          : containsScore(answer, story.expected),
    };
  },
};
