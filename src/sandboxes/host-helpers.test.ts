import { describe, expect, it } from "vitest";
import { chunk, countTokens, createHostHelpers, type GrepMatch, grep } from "./host-helpers.ts";
import { createIsolatedVmSandbox } from "./isolated-vm/isolated-vm-sandbox.ts";
import { EXACT_TOKEN_COUNT_CHARS, loadTokenizer } from "./token-count.ts";

describe("grep", () => {
  it("finds matches with 1-based lines and offsets", () => {
    const text = "alpha\nbeta ERROR one\ngamma\nERROR two\n";
    expect(grep(text, "ERROR \\w+")).toEqual([
      { line: 2, offset: 11, match: "ERROR one", lineText: "beta ERROR one" },
      { line: 4, offset: 27, match: "ERROR two", lineText: "ERROR two" },
    ]);
  });

  it("searches each document of a list and names it", () => {
    const docs = [{ id: "a.log", text: "x\nneedle" }, "needle here"];
    expect(grep(docs, "needle").map((match) => [match.document, match.line])).toEqual([
      ["a.log", 2],
      ["1", 1],
    ]);
  });

  it("supports flags, fixed strings and a match limit", () => {
    expect(grep("A.b a.B", "a.b", { flags: "i", fixed: true })).toHaveLength(2);
    expect(grep("aaaa", "a", { maxMatches: 3 })).toHaveLength(3);
    expect(grep("", "x", { text: "x\nx" }).map((match) => match.line)).toEqual([1, 2]);
  });

  it("rejects an empty pattern with a clear message", () => {
    expect(() => grep("abc", "")).toThrow(/non-empty/);
  });

  it("takes a string in place of the options as the flags (Python's grep(pattern, 'i'))", () => {
    expect(grep("Alpha alpha", "ALPHA", "i" as never)).toHaveLength(2);
  });

  it("shows the part of a long line around the match", () => {
    const line = `${"x".repeat(10_000)}NEEDLE${"y".repeat(10_000)}`;
    const [match] = grep(`first\n${line}\nlast`, "NEEDLE");
    expect(match?.line).toBe(2);
    expect(match?.lineText).toHaveLength(500);
    expect(match?.lineText).toContain("NEEDLE");
  });

  it("gives the same lines and offsets as a naive scan", () => {
    const text = "a\n\nbb a\nccc\na\n".repeat(50);
    const naive = [...text.matchAll(/a/g)].map((found) => {
      const before = text.slice(0, found.index);
      const lineStart = before.lastIndexOf("\n") + 1;
      const lineEnd = text.indexOf("\n", found.index);
      return {
        line: before.split("\n").length,
        offset: found.index,
        match: "a",
        lineText: text.slice(lineStart, lineEnd === -1 ? text.length : lineEnd),
      };
    });
    expect(grep(text, "a")).toEqual(naive);
  });
});

describe("grep through the host function", () => {
  it("returns a promise of the matches, with document ids for a list context", async () => {
    const helpers = createHostHelpers(() => [{ id: "a.log", text: "x\nneedle" }, "needle here"]);
    const matches = (await helpers.grep?.("needle")) as GrepMatch[];
    expect(matches.map((match) => [match.document, match.line])).toEqual([
      ["a.log", 2],
      ["1", 1],
    ]);
    const other = (await helpers.grep?.("NEEDLE", { text: "a\nNeedle", flags: "i" })) as GrepMatch[];
    expect(other.map((match) => match.line)).toEqual([2]);
  });

  it("reports a bad pattern as the guest's error", async () => {
    const helpers = createHostHelpers(() => "text");
    await expect(Promise.resolve().then(() => helpers.grep?.("(unclosed"))).rejects.toThrow(
      /Invalid regular/,
    );
  });
});

describe("chunk", () => {
  it("splits by characters with overlap", () => {
    expect(chunk("abcdefghij", { size: 4, overlap: 1 })).toEqual(["abcd", "defg", "ghij"]);
  });

  it("splits by lines", () => {
    expect(chunk("1\n2\n3\n4\n5", { by: "lines", size: 2 })).toEqual(["1\n2\n", "3\n4\n", "5"]);
  });

  it("splits by tokens and keeps the text intact", () => {
    const text = "The quick brown fox jumps over the lazy dog. ".repeat(20);
    const pieces = chunk(text, { by: "tokens", size: 30 });
    expect(pieces.join("")).toBe(text);
    for (const piece of pieces) expect(countTokens(piece)).toBeLessThanOrEqual(31);
  });

  it("rejects a bad overlap", () => {
    expect(() => chunk("abc", { size: 2, overlap: 2 })).toThrow(/overlap/);
  });

  it("cuts the same pieces as naive windows over characters and lines", () => {
    const naive = <T>(items: T[], size: number, overlap: number): T[][] => {
      const pieces: T[][] = [];
      for (let start = 0; start < items.length; start += size - overlap) {
        pieces.push(items.slice(start, start + size));
        if (start + size >= items.length) break;
      }
      return pieces;
    };
    const texts = [
      "",
      "a",
      "a\n",
      "\n\n\n",
      "one\ntwo\nthree",
      "one\ntwo\nthree\n",
      `${"x\n".repeat(37)}tail`,
    ];
    for (const text of texts) {
      for (const [size, overlap] of [
        [1, 0],
        [2, 1],
        [3, 1],
        [5, 4],
        [7, 0],
        [100, 3],
      ] as const) {
        const chars = naive([...text], size, overlap).map((piece) => piece.join(""));
        expect(chunk(text, { size, overlap })).toEqual(chars);
        const lines = naive(text.split(/(?<=\n)/), size, overlap).map((piece) => piece.join(""));
        expect(chunk(text, { by: "lines", size, overlap })).toEqual(text === "" ? [] : lines);
      }
    }
  });
});

describe("count_tokens", () => {
  it("counts special tokens as text instead of throwing", () => {
    expect(countTokens("hello <|endoftext|> world")).toBeGreaterThan(3);
  });

  const prose = Array.from(
    { length: 2500 },
    (_, index) =>
      `Line ${index}: The committee met on ${1 + (index % 28)} March; “résumé”, naïve café — ${index * 7919} items.\n`,
  ).join("");

  it("matches the tokenizer exactly on ordinary text", () => {
    const exact = loadTokenizer().countTokens(prose, { disallowedSpecial: new Set() });
    expect(countTokens(prose)).toBe(exact);
  });

  it("estimates a text over the exact limit within 2%", () => {
    const long = prose.repeat(Math.ceil((EXACT_TOKEN_COUNT_CHARS * 1.5) / prose.length));
    const exact = loadTokenizer().countTokens(long, { disallowedSpecial: new Set() });
    expect(Math.abs(countTokens(long) - exact) / exact).toBeLessThan(0.02);
  }, 60_000);
});

describe("host helpers inside the sandbox", () => {
  it("grep over the host's copy of the context, chunk and count_tokens", async () => {
    const context = `${"filler line\n".repeat(1000)}the code is 4417\n${"filler line\n".repeat(1000)}`;
    const session = await createIsolatedVmSandbox().create({
      globals: { context },
      hostFunctions: createHostHelpers(() => context),
    });
    try {
      const result = await session.execute(
        "const hits = grep('code is (\\\\d+)')\nconst parts = chunk(undefined, { by: 'lines', size: 500 })\nprint(hits[0].line, hits[0].match, parts.length, count_tokens('hello world'))",
      );
      expect(result.error).toBeUndefined();
      expect(result.output).toBe("1001 code is 4417 5 2\n");
    } finally {
      session.dispose();
    }
  });
});
