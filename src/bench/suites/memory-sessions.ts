import { Random, seedOf } from "../random.ts";
import { type BenchSuite, type BenchTask, CHARS_PER_TOKEN, containsScore, normalize } from "../suite.ts";

/**
 * A memory suite in the spirit of LongMemEval, generated with our own words: a user's dated chat sessions in
 * which a few attributes (city, employer, dog, car, sport, manager) are stated and later changed, among everyday
 * small talk and mentions of other people's details. The task's context is only today's short session; the
 * earlier sessions are its `history`, which only a memory can bring back. One question per task, cycling over
 * three kinds: the latest value, the value on a past date, and an attribute never stated ("unknown").
 */

export interface MemoryAttribute {
  name: string;
  /** Possible values; the answer a score looks for. */
  values: readonly string[];
  /** How a value is said, when the answer word alone would read oddly (a car's make and model). */
  spoken?: (value: string) => string;
  /** The first mention and a later change, as the user's line of a session; the change happens that day. */
  first: readonly ((value: string) => string)[];
  change: readonly ((value: string, old: string) => string)[];
  latest: string;
  /** `DATE` is replaced by the day asked about. */
  past: string;
}

const CARS: Record<string, string> = {
  Corolla: "Toyota Corolla",
  Octavia: "Skoda Octavia",
  Civic: "Honda Civic",
  Outback: "Subaru Outback",
  Niro: "Kia Niro",
  Clio: "Renault Clio",
  Leaf: "Nissan Leaf",
  Ioniq: "Hyundai Ioniq",
};

/** The attributes stated and changed over the sessions (exported for tests). */
export const MEMORY_ATTRIBUTES: readonly MemoryAttribute[] = [
  {
    name: "city",
    values: ["Lisbon", "Utrecht", "Gdansk", "Valencia", "Tampere", "Leeds", "Graz", "Bologna"],
    first: [
      (v) => `I live in ${v}, so keep in mind that I mostly shop at the local market here.`,
      (v) => `Here in ${v}, where I live, the buses stop running quite early on Sundays.`,
    ],
    change: [
      (v, old) =>
        `Big news: as of today I live in ${v}. The move from ${old} is done and the boxes are everywhere.`,
      (v) => `We signed the lease and moved today, so I live in ${v} from now on.`,
    ],
    latest: "Which city does the user live in now?",
    past: "Which city did the user live in on DATE?",
  },
  {
    name: "employer",
    values: [
      "Brightwell",
      "Quillon",
      "Harbourline",
      "Tallowmere",
      "Veridane",
      "Corvane",
      "Ostrander",
      "Pellucid",
    ],
    first: [
      (v) => `I work at ${v}, mostly on reports, and the mornings there are hectic.`,
      (v) => `At ${v}, where I work, we have a planning meeting every Monday.`,
    ],
    change: [
      (v, old) => `Today was my first day at my new job at ${v}. I left ${old} last Friday.`,
      (v) => `I started at ${v} this morning, so from today that is where I work.`,
    ],
    latest: "Which company does the user work for now?",
    past: "Which company did the user work for on DATE?",
  },
  {
    name: "dog",
    values: ["Biscuit", "Pepper", "Juniper", "Waffles", "Miso", "Clementine", "Rocket", "Hazel"],
    first: [
      (v) => `My dog ${v} needs a long walk every evening, rain or not.`,
      (v) => `I have a dog called ${v}; he chews everything he finds.`,
    ],
    change: [
      (v, old) => `Sad week: ${old} passed away, and today we adopted a rescue dog named ${v}.`,
      (v) => `We brought our new dog home today. Her name is ${v}.`,
    ],
    latest: "What is the name of the user's dog now?",
    past: "What was the name of the user's dog on DATE?",
  },
  {
    name: "car",
    values: Object.keys(CARS),
    spoken: (value) => CARS[value] ?? value,
    first: [
      (v) => `I drive a ${v}, which has been reliable so far.`,
      (v) => `My car is a ${v}; it needs new tyres before winter.`,
    ],
    change: [
      (v, old) => `I sold the ${old} and picked up my new car today: a ${v}.`,
      (v) => `As of today I drive a ${v}. The dealer handed me the keys this afternoon.`,
    ],
    latest: "Which car model does the user drive now?",
    past: "Which car model did the user drive on DATE?",
  },
  {
    name: "sport",
    values: ["tennis", "badminton", "rowing", "climbing", "volleyball", "squash", "fencing", "handball"],
    first: [
      (v) => `My favourite sport is ${v}; I try to play twice a week.`,
      (v) => `Nothing beats ${v} for me. It is my favourite sport by far.`,
    ],
    change: [
      (v, old) => `I have gone off ${old}. Starting today, my favourite sport is ${v}.`,
      (v) => `New favourite sport as of today: ${v}. I joined a club this afternoon.`,
    ],
    latest: "What is the user's favourite sport now?",
    past: "What was the user's favourite sport on DATE?",
  },
  {
    name: "manager",
    values: ["Priya", "Tomasz", "Ingrid", "Kwame", "Lucia", "Hamid", "Sofia", "Dmitri"],
    first: [
      (v) => `My manager, ${v}, wants the summary by Thursday.`,
      (v) => `${v} is my manager and prefers short emails.`,
    ],
    change: [
      (v, old) => `Team reshuffle: ${old} moved on, and from today my manager is ${v}.`,
      (v) => `I report to ${v} as of today; the org chart changed this morning.`,
    ],
    latest: "What is the name of the user's manager now?",
    past: "What was the name of the user's manager on DATE?",
  },
];

/** Attributes never stated about the user; the history states them about someone else, as a trap. */
export interface Unstated {
  name: string;
  values: readonly string[];
  question: string;
  /** Someone else's value, as the user's line of a session. */
  aside: (value: string, who: string) => string;
}

/** Exported for tests. */
export const MEMORY_UNSTATED: readonly Unstated[] = [
  {
    name: "blood type",
    values: ["O negative", "A positive", "B positive", "AB negative", "O positive", "A negative"],
    question: "What is the user's blood type?",
    aside: (v, who) =>
      `My friend ${who} donated blood yesterday; ${who}'s blood type is ${v}, apparently a useful one.`,
  },
  {
    name: "favourite colour",
    values: ["teal", "mustard", "lilac", "maroon", "olive", "turquoise"],
    question: "What is the user's favourite colour?",
    aside: (v, who) => `${who} painted the spare room ${v}, because that is ${who}'s favourite colour.`,
  },
  {
    name: "shoe size",
    values: ["37", "38", "41", "43", "44", "46"],
    question: "What is the user's shoe size?",
    aside: (v, who) => `I bought hiking boots for ${who} as a gift, size ${v}, and they fit.`,
  },
  {
    name: "sister",
    values: ["Marisol", "Annika", "Yewande", "Colette", "Ottilie", "Rosalind"],
    question: "What is the name of the user's sister?",
    aside: (v, who) => `${who} introduced me to ${who}'s sister ${v} at the party.`,
  },
  {
    name: "dentist",
    values: ["Dr. Okafor", "Dr. Lindgren", "Dr. Moreau", "Dr. Varga", "Dr. Castell", "Dr. Nakamura"],
    question: "What is the name of the user's dentist?",
    aside: (v, who) => `${who} finally found a dentist they like, ${v}, near the station.`,
  },
];

/** Other people in small talk; none is a value of an attribute. */
const FRIENDS = ["Maya", "Jonas", "Leila", "Arjun", "Noor", "Felix", "Carmen", "Theo"];

// Everyday small talk: a user line, then the assistant's answer, with a few slots.
const FOODS = [
  "lentils",
  "chickpeas",
  "spinach",
  "mushrooms",
  "leeks",
  "sweet potatoes",
  "rice noodles",
  "tofu",
];
const CHORES = [
  "the laundry",
  "the gutters",
  "the spare room",
  "the fridge",
  "the balcony",
  "the bookshelves",
];
const BOOKS = ["a mystery novel", "a history of bridges", "a book on sleep", "a collection of short stories"];
const SKILLS = ["bread baking", "watercolour", "touch typing", "knot tying", "basic Spanish", "sourdough"];
const TIMES = ["this weekend", "on Thursday evening", "tomorrow morning", "next week", "after lunch"];

type Slot = (random: Random) => string;
const slot =
  (words: readonly string[]): Slot =>
  (random) =>
    random.pick(words);

const SMALL_TALK: ReadonlyArray<readonly [string, string]> = [
  [
    "Can you suggest a quick dinner with {food}?",
    "Sure. Sauté an onion, add the {food} with garlic and a spoon of paste, simmer for twenty minutes and finish with lemon.",
  ],
  [
    "I keep putting off cleaning {chore}. Any tips to get started?",
    "Set a timer for fifteen minutes and stop when it rings; starting small makes the rest much easier.",
  ],
  [
    "I'm reading {book} and losing track of it. How do I stay focused?",
    "Try reading at the same time each day and jot one line of notes per chapter; it keeps the thread.",
  ],
  [
    "I want to learn {skill}. Where should I begin?",
    "Pick one short beginner guide, practise ten minutes a day, and review what went wrong each week.",
  ],
  [
    "Remind me to call {friend} {time}, please.",
    "Noted: call {friend} {time}. Would you like a short list of things to mention?",
  ],
  [
    "What is a good way to plan my week?",
    "List the three things that matter most, block time for them first, then fit smaller tasks around them.",
  ],
  [
    "{friend} asked me for a birthday gift idea. Thoughts?",
    "A small experience works well: a cooking class, a concert ticket, or a day trip planned together.",
  ],
  [
    "I slept badly again. Anything simple I can change?",
    "Keep the same wake-up time every day, dim the lights an hour before bed, and leave the phone in another room.",
  ],
  [
    "How long should I boil eggs for soft yolks?",
    "About six and a half minutes from boiling water, then straight into cold water.",
  ],
  [
    "Can you help me word a polite reminder about an unpaid invoice?",
    "Of course: a short friendly note with the invoice number, the amount, the due date and a thank you works best.",
  ],
  [
    "I'm thinking of repainting {chore} {time}. Is one coat enough?",
    "Usually two thin coats look better than one thick one; let the first dry fully before the second.",
  ],
  [
    "{friend} and I are planning a picnic {time}. What should we bring?",
    "Something easy to share: bread, cheese, fruit, a salad of {food}, water, and a blanket.",
  ],
  [
    "How do I keep herbs fresh for longer?",
    "Trim the stems, stand them in a glass of water in the fridge, and loosely cover the leaves.",
  ],
  [
    "Quick question: how do I convert cups to grams for flour?",
    "A cup of flour is roughly 120 to 130 grams; weighing is more reliable than scooping.",
  ],
  [
    "What can I batch-cook on Sunday with {food} that keeps for a few days?",
    "A tray bake or a thick soup with {food} keeps three to four days in the fridge and reheats well.",
  ],
  [
    "{friend} is visiting {time}. Any idea for a relaxed afternoon?",
    "A walk somewhere green, then a simple lunch at home; leave room for doing nothing in particular.",
  ],
  [
    "My inbox is out of control. How do I get it back to zero?",
    "Archive everything older than a month, then answer or schedule what is left, two minutes per message at most.",
  ],
  [
    "Could you draft a short thank-you note to {friend} for the dinner?",
    "Here is one: Thank you for a lovely evening and a wonderful meal. Let's do it again soon at my place.",
  ],
  [
    "I want to finish {book} {time}. Is fifty pages a day realistic?",
    "For most people it is; reading in two sittings of twenty-five pages makes it easier to keep up.",
  ],
  [
    "What's the best way to store {food} so it doesn't spoil?",
    "Keep it cool and dry, away from light, and use an airtight container once opened.",
  ],
  [
    "Give me a ten-minute stretching routine for after work.",
    "Neck rolls, shoulder circles, a standing forward fold, hip openers and a slow calf stretch, two minutes each.",
  ],
  [
    "How do I sort out {chore} without buying more boxes?",
    "Empty it completely, keep only what you used this year, and group what remains by how often you need it.",
  ],
  [
    "I've got a practice session for {skill} {time}. How do I make it count?",
    "Choose one small thing to improve, repeat it slowly, and write down what changed at the end.",
  ],
  [
    "Any ideas for a cheap weekday lunch?",
    "Leftover grains with a fried egg and whatever vegetables need using up, or a quick wrap with {food}.",
  ],
];

const FILL: Record<string, Slot> = {
  food: slot(FOODS),
  chore: slot(CHORES),
  book: slot(BOOKS),
  skill: slot(SKILLS),
  friend: slot(FRIENDS),
  time: slot(TIMES),
};

const OPENERS = ["", "", "", "Hi! ", "Hey, ", "Quick one: ", "Morning. ", "Another thing: "];

function smallTalk(random: Random): string[] {
  const [user, assistant] = random.pick(SMALL_TALK);
  const values = new Map<string, string>();
  const fill = (text: string) =>
    text.replace(/\{(\w+)\}/g, (_match, name: string) => {
      if (!values.has(name)) values.set(name, (FILL[name] as Slot)(random));
      return values.get(name) as string;
    });
  const opener = random.pick(OPENERS);
  return [`User: ${opener}${fill(user)}`, `Assistant: ${fill(assistant)}`];
}

const ACKS = [
  "Thanks for telling me, I'll keep that in mind.",
  "Noted. That is good to know.",
  "Got it, thanks for the update.",
  "Understood. I'll remember that.",
];

const DAY_MS = 86_400_000;

const isoDay = (day: number) => new Date(day * DAY_MS).toISOString().slice(0, 10);
/** Sessions happen at noon UTC, so a day in a question is never ambiguous across time zones. */
const isoTime = (day: number) => new Date(day * DAY_MS + 12 * 3_600_000).toISOString();

/** `count` sorted positions in [0, last] at least `gap` apart (fewer when they do not fit). */
function spreadPositions(random: Random, count: number, last: number, gap: number): number[] {
  const fits = Math.max(1, Math.min(count, Math.floor(last / gap) + 1));
  const slack = last - gap * (fits - 1);
  const picks = Array.from({ length: fits }, () => random.int(0, slack)).sort((a, b) => a - b);
  return picks.map((pick, at) => pick + gap * at);
}

/** One attribute's timeline: its values and the session each was stated in. */
interface Timeline {
  attribute: MemoryAttribute;
  values: string[];
  sessions: number[];
}

export type MemoryQuestionKind = "latest" | "past" | "unknown";
export const MEMORY_QUESTION_KINDS: readonly MemoryQuestionKind[] = ["latest", "past", "unknown"];

/** Answers that decline: "unknown", "not stated", "never mentioned", "I don't know"... (on normalized text). */
const DECLINES = new RegExp(
  [
    "\\bunknown\\b",
    "(?:\\bnot|\\bnever|\\b(?:is|was|has|have|had|are|were|does|did)n ?t)(?: been| ever been| ever)? (?:stated|mentioned|known|given|specified|provided|recorded|shared|said|told|available|disclosed)\\b",
    "\\b(?:don ?t|do not|does not|doesn ?t) know\\b",
    "\\bnot sure\\b",
    "\\bno (?:information|record|mention|data)\\b",
    "\\b(?:cannot|can ?t|unable to) (?:be )?(?:determine|tell|know|say)\\b",
  ].join("|"),
);

/** 1 when the answer declines and names none of `values`, else 0. */
export function unknownScore(answer: unknown, values: readonly string[]): number {
  const text = normalize(answer);
  if (!DECLINES.test(text)) return 0;
  return values.some((value) => containsScore(text, value) === 1) ? 0 : 1;
}

const HINT = 'Answer with the value only, or "unknown" if it was never stated.';

export const memorySessionsSuite: BenchSuite = {
  name: "memory",
  description:
    "facts that change over dated chat sessions kept outside the context; latest, past or never stated; rlm vs rlm+memory",
  generate(sizeTokens, seed, index): BenchTask {
    const random = new Random(seedOf("memory", seed, sizeTokens, index));
    const totalChars = sizeTokens * CHARS_PER_TOKEN;
    // Sessions of up to ~3,000 characters, so one fits an episode as consolidation reads it whole.
    const sessionChars = Math.max(400, Math.min(3000, totalChars / 8));
    const count = Math.max(6, Math.round(totalChars / sessionChars));
    const perSession = totalChars / count;
    const maxGap = Math.max(2, Math.min(30, Math.round(720 / count)));
    const days = [Date.UTC(2023, 0, 2) / DAY_MS + random.int(0, 400)];
    while (days.length < count) days.push((days.at(-1) as number) + random.int(1, maxGap));

    const events: string[][] = Array.from({ length: count }, () => []);
    const timelines: Timeline[] = MEMORY_ATTRIBUTES.map((attribute) => {
      const values = random.shuffle([...attribute.values]).slice(0, random.int(2, 3));
      // At least two sessions apart, so a day strictly between two changes always exists.
      const sessions = spreadPositions(random, values.length, count - 1, 2);
      const say = (value: string) => attribute.spoken?.(value) ?? value;
      sessions.forEach((session, at) => {
        const value = values[at] as string;
        const line =
          at === 0
            ? random.pick(attribute.first)(say(value))
            : random.pick(attribute.change)(say(value), say(values[at - 1] as string));
        events[session]?.push(`User: ${line}`, `Assistant: ${random.pick(ACKS)}`);
      });
      return { attribute, values: values.slice(0, sessions.length), sessions };
    });
    const asides = MEMORY_UNSTATED.map((unstated) => {
      const value = random.pick(unstated.values);
      events[random.int(0, count - 1)]?.push(
        `User: ${unstated.aside(value, random.pick(FRIENDS))}`,
        `Assistant: ${random.pick(ACKS)}`,
      );
      return { unstated, value };
    });

    const history = days.map((sessionDay, at) => {
      const budget = perSession * (0.85 + random.next() * 0.3);
      const exchanges: string[][] = [];
      let size = (events[at] ?? []).join("\n").length;
      while (size < budget || exchanges.length === 0) {
        const exchange = smallTalk(random);
        exchanges.push(exchange);
        size += exchange.join("\n").length + 1;
      }
      const own = events[at] ?? [];
      for (let line = 0; line < own.length; line += 2) {
        exchanges.splice(random.int(0, exchanges.length), 0, own.slice(line, line + 2));
      }
      return { at: isoTime(sessionDay), text: exchanges.flat().join("\n") };
    });

    const today = (days.at(-1) as number) + random.int(1, 5);
    const kind = MEMORY_QUESTION_KINDS[index % MEMORY_QUESTION_KINDS.length] as MemoryQuestionKind;
    let question: string;
    let expected: string;
    let score: (answer: unknown) => number;
    if (kind === "unknown") {
      const { unstated, value } = random.pick(asides);
      question = unstated.question;
      expected = "unknown";
      score = (answer) => unknownScore(answer, [...unstated.values, value]);
    } else {
      const timeline = random.pick(timelines);
      if (kind === "latest") {
        expected = timeline.values.at(-1) as string;
        question = timeline.attribute.latest;
      } else {
        // A value that no longer holds, asked on a day strictly inside its time.
        const at = random.int(0, timeline.values.length - 2);
        const from = days[timeline.sessions[at] as number] as number;
        const to = days[timeline.sessions[at + 1] as number] as number;
        expected = timeline.values[at] as string;
        question = timeline.attribute.past.replace("DATE", isoDay(random.int(from + 1, to - 1)));
      }
      score = (answer) => containsScore(answer, expected);
    }
    const context = [
      `Chat session on ${isoDay(today)} (today)`,
      "User: Good morning! Before we get going, I have a quick question about things I told you earlier.",
      "Assistant: Good morning. Of course, ask away.",
    ].join("\n");
    return {
      id: `memory-${sizeTokens}-${index}`,
      context,
      query: `${question} ${HINT}`,
      expected,
      history,
      score,
    };
  },
};
