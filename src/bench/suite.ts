/** One generated task: a context, a question, and how to score an answer. */
export interface BenchTask {
  id: string;
  context: string;
  query: string;
  /** The expected answer, as text for the report. */
  expected: string;
  /** A score in [0, 1]. */
  score(answer: unknown): number;
  /**
   * Earlier sessions, oldest first, that are NOT in the context: a strategy with memory (`rlm+memory`) stores
   * each as an episode dated `at` (an ISO time) before the run; one without memory never sees them.
   */
  history?: Array<{ at: string; text: string }>;
}

export interface BenchSuite {
  name: string;
  description: string;
  /** Deterministic: the same size, seed and index give the same task. */
  generate(sizeTokens: number, seed: number, index: number): BenchTask;
}

/** Characters per token used to size generated contexts. */
export const CHARS_PER_TOKEN = 4;

/** Lower case, punctuation dropped, single spaces. */
export function normalize(answer: unknown): string {
  const text = typeof answer === "string" ? answer : JSON.stringify(answer ?? "");
  return text
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s-]/gu, " ")
    .replace(/\s+/g, " ")
    .trim();
}

/** 1 when the expected word or phrase appears in the answer as whole words, else 0. */
export function containsScore(answer: unknown, expected: string): number {
  const haystack = ` ${normalize(answer)} `;
  return haystack.includes(` ${normalize(expected)} `) ? 1 : 0;
}

/** The first number in an answer (digits or an English word up to twenty). */
export function firstNumber(answer: unknown): number | undefined {
  const text = normalize(answer);
  const digits = /-?\d+(\.\d+)?/.exec(text);
  if (digits) return Number(digits[0]);
  const words = [
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
    "ten",
    "eleven",
    "twelve",
    "thirteen",
    "fourteen",
    "fifteen",
    "sixteen",
    "seventeen",
    "eighteen",
    "nineteen",
    "twenty",
  ];
  for (const word of text.split(" ")) {
    const index = words.indexOf(word);
    if (index !== -1) return index;
  }
  return undefined;
}

/** OOLONG's numeric score: 0.75 to the power of the absolute error. */
export function numericScore(answer: unknown, expected: number): number {
  const value = firstNumber(answer);
  return value === undefined ? 0 : 0.75 ** Math.abs(value - expected);
}
