import { describe, expect, it } from "vitest";
import { parseSize } from "../sizes.ts";
import { containsScore, firstNumber, numericScore } from "../suite.ts";
import { SUITES } from "./index.ts";
import { pairF1, parsePairs } from "./oolong-pairs.ts";

describe("suites", () => {
  it.each(SUITES.map((suite) => [suite.name, suite] as const))(
    "%s is deterministic, sized, and scores its own answer 1",
    (_name, suite) => {
      for (let index = 0; index < 4; index++) {
        const first = suite.generate(8192, 7, index);
        const again = suite.generate(8192, 7, index);
        expect(again.context).toBe(first.context);
        expect(again.query).toBe(first.query);
        // A suite with a history (memory) puts its size there; the context is today's short session.
        const size =
          first.context.length + (first.history ?? []).reduce((sum, item) => sum + item.text.length, 0);
        expect(size).toBeGreaterThan(8192 * 4 * 0.9);
        expect(size).toBeLessThan(8192 * 4 * 1.2);
        expect(again.history).toEqual(first.history);
        expect(first.score(first.expected)).toBe(1);
        expect(first.score("something else entirely")).toBeLessThan(1);
      }
      expect(suite.generate(8192, 8, 0).context).not.toBe(suite.generate(8192, 7, 0).context);
    },
  );
});

describe("scoring", () => {
  it("scores numbers by 0.75 to the absolute error, in digits or words", () => {
    expect(numericScore("There are 12 items.", 12)).toBe(1);
    expect(numericScore("14", 12)).toBeCloseTo(0.5625);
    expect(numericScore("none", 3)).toBe(0);
    expect(firstNumber("She carries two objects")).toBe(2);
  });

  it("matches whole words only", () => {
    expect(containsScore("It is in the garden.", "garden")).toBe(1);
    expect(containsScore("gardens", "garden")).toBe(0);
  });

  it("scores pairs by F1", () => {
    const expected = new Set(["10001,10002", "10001,10003"]);
    expect(pairF1(parsePairs("(10002, 10001)\n(10001, 10003)"), expected)).toBe(1);
    expect(pairF1(parsePairs("(10001, 10002)"), expected)).toBeCloseTo(2 / 3);
    expect(pairF1(parsePairs("nothing"), expected)).toBe(0);
  });

  it("parses sizes", () => {
    expect(parseSize("8k")).toBe(8192);
    expect(parseSize("4m")).toBe(4 * 1024 * 1024);
    expect(() => parseSize("huge")).toThrow(/8k/);
  });
});
