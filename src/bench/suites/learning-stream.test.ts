import { describe, expect, it } from "vitest";
import {
  answerNumber,
  exactNumberScore,
  LEARNING_FAMILIES,
  learningFamilyOf,
  learningStreamSuite,
} from "./learning-stream.ts";

const SIZE = 2048;

/** What a reading that falls into the family's trap answers. */
function trapAnswer(family: string, context: string, query: string): number {
  const lines = context.split("\n");
  if (family === "log-levels") return lines.filter((line) => /error/i.test(line)).length;
  if (family === "order-revenue") {
    const amounts = lines.filter((line) => /^A\d+,/.test(line)).map((line) => Number(line.split(",")[2]));
    return Math.round(amounts.reduce((sum, amount) => sum + amount, 0) * 100) / 100;
  }
  if (family === "config-setting") {
    const setting = /setting (\w+)/.exec(query)?.[1] as string;
    const assigned = lines.filter((line) => new RegExp(`^#?\\s*${setting} = `).test(line));
    return Number(assigned.at(-1)?.split("=")[1]?.trim().split(" ")[0]);
  }
  const ids = lines.filter((line) => line.includes("user=")).map((line) => /user=(\S+)/.exec(line)?.[1]);
  return new Set(ids).size;
}

describe("the learning suite", () => {
  it("cycles its families in stream order, deterministically, with data that varies", () => {
    for (let index = 0; index < 8; index++) {
      const task = learningStreamSuite.generate(SIZE, 3, index);
      const family = learningFamilyOf(index);
      expect(family).toBe(LEARNING_FAMILIES[index % 4]);
      expect(task.id).toBe(`learning-${SIZE}-${index}-${family.name}`);
      expect(learningStreamSuite.generate(SIZE, 3, index)).toMatchObject({
        context: task.context,
        query: task.query,
        expected: task.expected,
      });
    }
    // The same family recurs with fresh data (and, but for the setting's name, the same question).
    const first = learningStreamSuite.generate(SIZE, 3, 1);
    const again = learningStreamSuite.generate(SIZE, 3, 5);
    expect(again.query).toBe(first.query);
    expect(again.context).not.toBe(first.context);
  });

  it("hides a trap in every task: the naive reading scores 0, the expected answer 1", () => {
    for (let index = 0; index < 16; index++) {
      const task = learningStreamSuite.generate(SIZE, 1, index);
      const family = learningFamilyOf(index).name;
      const naive = trapAnswer(family, task.context, task.query);
      expect(naive, `${family} #${index}`).not.toBe(Number(task.expected));
      expect(task.score(String(naive))).toBe(0);
      expect(task.score(task.expected)).toBe(1);
      expect(task.score(`The answer is ${task.expected}.`)).toBe(1);
    }
    // The rules the traps turn on are stated in the data.
    expect(learningStreamSuite.generate(SIZE, 1, 1).context).toContain("revenue = amount + refund");
    expect(learningStreamSuite.generate(SIZE, 1, 2).context).toContain("Lines starting with # are comments");
    expect(learningStreamSuite.generate(SIZE, 1, 3).context).toContain("case-insensitive");
  });

  it("reads numbers as written", () => {
    expect(answerNumber("$1,234.50")).toBe(1234.5);
    expect(answerNumber("about 17 lines")).toBe(17);
    expect(answerNumber({ value: 3 })).toBe(3);
    expect(answerNumber("none")).toBeUndefined();
    expect(exactNumberScore("1234.504", 1234.5)).toBe(1);
    expect(exactNumberScore("1234.51", 1234.5)).toBe(0);
  });
});
