import { describe, expect, it } from "vitest";
import { foldNewlines } from "./fold-newlines.ts";
import { seededRandom } from "./random.ts";

describe("foldNewlines", () => {
  it("does what /\\s*\\n\\s*/g does, on many random texts", () => {
    const random = seededRandom("fold-newlines");
    const pieces = ["a", "b", " ", "\t", "\n", "\r", "\u00a0", "\u2028", "xy"];
    for (let round = 0; round < 2000; round++) {
      const length = Math.floor(random() * 12);
      const text = Array.from({ length }, () => pieces[Math.floor(random() * pieces.length)]).join("");
      expect(foldNewlines(text, " "), JSON.stringify(text)).toBe(text.replace(/\s*\n\s*/g, " "));
      expect(foldNewlines(text, "\n"), JSON.stringify(text)).toBe(text.replace(/\s*\n\s*/g, "\n"));
    }
  });

  // The timeout guards against a hang: the regular expression took 10 s on 100,000 spaces.
  it("takes linear time on long runs of whitespace", () => {
    const text = `${" ".repeat(1_000_000)}x\n${"\f".repeat(1_000_000)}`;
    expect(foldNewlines(text, " ")).toBe(`${" ".repeat(1_000_000)}x `);
  }, 10_000);
});
