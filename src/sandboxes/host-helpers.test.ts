import { describe, expect, it } from "vitest";
import { chunk, countTokens, createHostHelpers, grep } from "./host-helpers.ts";
import { createIsolatedVmSandbox } from "./isolated-vm/isolated-vm-sandbox.ts";

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
});

describe("count_tokens", () => {
  it("counts special tokens as text instead of throwing", () => {
    expect(countTokens("hello <|endoftext|> world")).toBeGreaterThan(3);
  });
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
