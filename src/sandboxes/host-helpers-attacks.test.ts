/**
 * Hostile guest code against the host helpers. Each test is one class of attack: a slow pattern, an unbounded
 * result, an unbounded chunking, a quadratic tokenisation, unbounded host reads. Sizes are chosen to show the
 * class without taking minutes; budgets are set low where the test waits for one to run out.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { ByteBudget } from "../context/byte-budget.ts";
import { bindContext } from "../context/context-bindings.ts";
import { FileText } from "../context/file-text.ts";
import { grepThreadCount, MAX_GREP_THREADS } from "./grep-runner.ts";
import { chunk, countTokens, createHostHelpers, type GrepMatch } from "./host-helpers.ts";
import { createIsolatedVmSandbox } from "./isolated-vm/isolated-vm-sandbox.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-attacks-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Exponential for a backtracking engine: each extra "a" doubles the work (26 of them take ~8 s in V8). */
const CATASTROPHIC = "(a+)+$";
const CATASTROPHIC_TEXT = `${"a".repeat(34)}b`;

/** Calls a host function as the guest would and waits for its result, whether it returns a promise or not. */
async function call(fn: ((...args: unknown[]) => unknown) | undefined, ...args: unknown[]): Promise<unknown> {
  if (fn === undefined) throw new Error("no such host function");
  return await fn(...args);
}

/** Whether a timer due at once fires before `work` settles: not when `work` blocks the event loop. */
async function timerFiresDuring(work: () => Promise<unknown>): Promise<{ fired: boolean; outcome: unknown }> {
  let fired = false;
  const timer = setTimeout(() => {
    fired = true;
  }, 0);
  const outcome = await work().catch((error: unknown) => error);
  const firedBefore = fired;
  clearTimeout(timer);
  return { fired: firedBefore, outcome };
}

/** Counts main-thread timer ticks while `work` runs: a blocked event loop gives none. */
async function ticksDuring(work: () => Promise<unknown>): Promise<{ ticks: number; outcome: unknown }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 20);
  try {
    const outcome = await work().catch((error: unknown) => error);
    return { ticks, outcome };
  } finally {
    clearInterval(timer);
  }
}

describe("grep: time budget", () => {
  it("stops a catastrophically backtracking pattern at the budget with a clear error", async () => {
    const helpers = createHostHelpers(() => CATASTROPHIC_TEXT, { grepTimeoutMs: 1000 });
    await expect(call(helpers.grep, CATASTROPHIC)).rejects.toThrow(
      /grep stopped after 1 s: the pattern is too slow/,
    );
  }, 30_000);

  it("keeps the host's event loop running while a slow grep runs", async () => {
    const helpers = createHostHelpers(() => CATASTROPHIC_TEXT, { grepTimeoutMs: 1000 });
    const { ticks, outcome } = await ticksDuring(() => call(helpers.grep, CATASTROPHIC));
    expect(outcome).toBeInstanceOf(Error);
    expect(ticks).toBeGreaterThan(5);
  }, 30_000);

  it("still answers after a grep was stopped (the worker is replaced)", async () => {
    const helpers = createHostHelpers(() => `${CATASTROPHIC_TEXT}\nthe code is 7\n`, { grepTimeoutMs: 1000 });
    await expect(call(helpers.grep, CATASTROPHIC)).rejects.toThrow(/stopped/);
    const matches = (await call(helpers.grep, "code is (\\d)")) as GrepMatch[];
    expect(matches.map((match) => [match.line, match.match])).toEqual([[2, "code is 7"]]);
  }, 30_000);

  it("fails queued calls with the same slow pattern at once instead of running each to the budget", async () => {
    const helpers = createHostHelpers(() => "", { grepTimeoutMs: 1000 });
    const started = performance.now();
    const calls = Array.from({ length: 20 }, () =>
      call(helpers.grep, CATASTROPHIC, { text: CATASTROPHIC_TEXT }).catch((error: Error) => error.message),
    );
    const messages = await Promise.all(calls);
    for (const message of messages) expect(message).toMatch(/grep stopped after 1 s/);
    // Twenty budgets would be 20 s; sharing the verdict takes one.
    expect(performance.now() - started).toBeLessThan(15_000);
  }, 60_000);

  it("reaches the guest as an error inside the sandbox", async () => {
    const bindings = bindContext(CATASTROPHIC_TEXT, "javascript", { grepTimeoutMs: 1000 });
    const session = await createIsolatedVmSandbox().create(bindings);
    try {
      const result = await session.execute(
        `try { grep(${JSON.stringify(CATASTROPHIC)}) } catch (e) { print(e.message) }`,
      );
      expect(result.output).toMatch(/grep stopped after 1 s/);
    } finally {
      session.dispose();
    }
  }, 30_000);
});

describe("grep: linear work and bounded results", () => {
  const noNewlines = "x".repeat(20_000_000);

  it("handles a pattern matching the empty string everywhere in 20 MB without newlines", async () => {
    const helpers = createHostHelpers(() => noNewlines, { grepTimeoutMs: 20_000 });
    const { fired, outcome } = await timerFiresDuring(() => call(helpers.grep, "y*", { maxMatches: 10_000 }));
    expect(fired).toBe(true);
    const matches = outcome as GrepMatch[];
    expect(matches).toHaveLength(10_000);
    expect(matches[9_999]).toMatchObject({ line: 1, offset: 9_999, match: "" });
    expect(matches[0]?.lineText.length).toBeLessThanOrEqual(500);
  }, 60_000);

  it("handles a normal pattern over 20 MB without newlines", async () => {
    const helpers = createHostHelpers(() => "word ".repeat(4_000_000), { grepTimeoutMs: 20_000 });
    const { fired, outcome } = await timerFiresDuring(() =>
      call(helpers.grep, "word", { maxMatches: 10_000 }),
    );
    expect(fired).toBe(true);
    const matches = outcome as GrepMatch[];
    expect(matches).toHaveLength(10_000);
    expect(matches[9_999]?.offset).toBe(9_999 * 5);
  }, 60_000);

  it("cuts huge matches and long lines, and bounds the total result", async () => {
    const helpers = createHostHelpers(() => "", { grepTimeoutMs: 20_000 });
    const text = `${"z".repeat(5_000_000)}\n`.repeat(3);
    const matches = (await call(helpers.grep, "z+", { text })) as GrepMatch[];
    expect(matches).toHaveLength(3);
    for (const match of matches) {
      expect(match.match.length).toBeLessThanOrEqual(1_000);
      expect(match.truncated).toBe(true);
      expect(match.lineText.length).toBeLessThanOrEqual(500);
    }
    const many = (await call(helpers.grep, "[a-z]{2000}", {
      text: "q".repeat(30_000_000),
      maxMatches: 10_000,
    })) as GrepMatch[];
    const resultChars = many.reduce((sum, match) => sum + match.match.length + match.lineText.length, 0);
    expect(resultChars).toBeLessThanOrEqual(8_000_000);
  }, 60_000);

  it("rejects unbounded or malformed options", async () => {
    const helpers = createHostHelpers(() => "aaa");
    await expect(call(helpers.grep, "a", { maxMatches: Number.POSITIVE_INFINITY })).rejects.toThrow(
      /maxMatches.*10000/,
    );
    await expect(call(helpers.grep, "a", { maxMatches: 1e308 })).rejects.toThrow(/maxMatches/);
    await expect(call(helpers.grep, "a", { maxMatches: "all" })).rejects.toThrow(/maxMatches/);
    await expect(call(helpers.grep, { toString: () => "a" })).rejects.toThrow(/pattern must be a/);
    await expect(call(helpers.grep, 42)).rejects.toThrow(/pattern must be a/);
    await expect(call(helpers.grep, "a", { text: 42 })).rejects.toThrow(/text must be a string/);
    await expect(call(helpers.grep, "a", { flags: "gq" })).rejects.toThrow(/flags/);
    await expect(call(helpers.grep, "a", 42)).rejects.toThrow(/options/);
    await expect(call(helpers.grep, "a".repeat(200_000))).rejects.toThrow(/pattern is too long/);
  });
});

describe("FileText.grep: the same budget while streaming a file", () => {
  it("stops a slow pattern at the budget and says how far it got", async () => {
    const path = join(root, "slow.txt");
    writeFileSync(path, `${"ordinary line\n".repeat(1000)}${CATASTROPHIC_TEXT}\n`);
    const file = new FileText(path, 4096);
    try {
      await expect(file.grep(CATASTROPHIC, { flags: "m" }, { timeoutMs: 1000 })).rejects.toThrow(
        /grep stopped after 1 s: the pattern is too slow.*block \d+ of \d+/s,
      );
      const found = await file.grep("ordinary", { maxMatches: 2 });
      expect(found.map((match) => match.line)).toEqual([1, 2]);
    } finally {
      file.close();
    }
  }, 30_000);
});

describe("chunk: bounded pieces and characters, checked before building", () => {
  const twoMegabytes = "abcdefghij".repeat(200_000);

  it("refuses a tiny step over a large text by characters", () => {
    expect(() => chunk(twoMegabytes, { size: 10, overlap: 9 })).toThrow(/100000 pieces.*bigger size/);
  });

  it("refuses a tiny step by lines and by tokens", () => {
    const lines = "line\n".repeat(400_000);
    expect(() => chunk(lines, { by: "lines", size: 10, overlap: 9 })).toThrow(/pieces/);
    const words = "word ".repeat(400_000);
    expect(() => chunk(words, { by: "tokens", size: 10, overlap: 9 })).toThrow(/pieces/);
  }, 60_000);

  it("refuses an output far larger than the input", () => {
    // 2,000 pieces of 1,000,000 characters each: 2e9 characters from a 2 MB text.
    expect(() => chunk(twoMegabytes, { size: 1_000_000, overlap: 999_000 })).toThrow(/characters/);
  });

  it("bounds the pieces over all the documents of a list context together", async () => {
    const documents = Array.from({ length: 1000 }, (_, index) => ({
      id: `d${index}`,
      text: "x".repeat(2000),
    }));
    const helpers = createHostHelpers(() => documents);
    await expect(call(helpers.chunk, undefined, { size: 10, overlap: 9 })).rejects.toThrow(/pieces/);
  });

  it("validates size and overlap", () => {
    expect(() => chunk("abc", { size: Number.NaN })).toThrow(/size/);
    expect(() => chunk("abc", { size: -1 })).toThrow(/size/);
    expect(() => chunk("abc", { size: 2, overlap: Number.NaN })).toThrow(/overlap/);
    expect(chunk("abc", { size: 1e308 })).toEqual(["abc"]);
    expect(chunk("abc", { size: Number.POSITIVE_INFINITY })).toEqual(["abc"]);
  });
});

describe("count_tokens and chunk by tokens: bounded work on pathological text", () => {
  it("counts 2,000,000 copies of one character", () => {
    const count = countTokens("a".repeat(2_000_000));
    // o200k encodes long runs of "a" as 8 characters per token.
    expect(count).toBeGreaterThan(240_000);
    expect(count).toBeLessThan(260_000);
  }, 120_000);

  it("counts a long run of random letters without spaces", () => {
    let seed = 7;
    const letters = Array.from({ length: 1_000_000 }, () => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return String.fromCharCode(97 + (seed % 26));
    }).join("");
    expect(countTokens(letters)).toBeGreaterThan(100_000);
  }, 120_000);

  it("chunks 400,000 copies of one character by tokens", () => {
    const text = "a".repeat(400_000);
    const pieces = chunk(text, { by: "tokens", size: 1000 });
    expect(pieces.join("")).toBe(text);
  }, 120_000);

  it("rejects a non-string through the host function", async () => {
    const helpers = createHostHelpers(() => "");
    await expect(call(helpers.count_tokens, { length: 5 })).rejects.toThrow(/text must be a string/);
  });
});

describe("file context reads: bounded host memory in flight", () => {
  const path = join(root, "reads.txt");
  writeFileSync(path, "0123456789abcdef\n".repeat(256 * 1024));

  it("never holds more than the read budget, however many reads run at once", async () => {
    const budget = new ByteBudget(2 * 1024 * 1024);
    const file = new FileText(path, 1024 * 1024, { readBudget: budget });
    const bindings = bindContext(file);
    try {
      const reads = Array.from({ length: 40 }, (_, index) =>
        call(bindings.hostFunctions._context_read, index * 1000, index * 1000 + 1024 * 1024),
      );
      const texts = (await Promise.all(reads)) as string[];
      for (const text of texts) expect(text).toHaveLength(1024 * 1024);
      const blocks = (await Promise.all(
        Array.from({ length: 20 }, (_, index) => call(bindings.hostFunctions._context_block, index % 4)),
      )) as string[];
      expect(blocks[1]).toBe(file.read(file.blockStarts[1], file.blockStarts[2]));
      expect(budget.peakBytes).toBeGreaterThan(0);
      expect(budget.peakBytes).toBeLessThanOrEqual(2 * 1024 * 1024);
      await new Promise((resolve) => setImmediate(resolve)); // reads give their bytes back a turn later
      expect(budget.inUseBytes).toBe(0);
    } finally {
      file.close();
    }
  });

  it("refuses a read larger than the budget, and malformed offsets, clearly", async () => {
    const file = new FileText(path, 1024 * 1024, { readBudget: new ByteBudget(1024 * 1024) });
    const bindings = bindContext(file);
    try {
      await expect(call(bindings.hostFunctions._context_read, 0, 2 * 1024 * 1024)).rejects.toThrow(
        /larger than the host's read budget/,
      );
      await expect(call(bindings.hostFunctions._context_read, "x", 10)).rejects.toThrow(/start/);
      await expect(call(bindings.hostFunctions._context_read, 0, Number.NaN)).rejects.toThrow(/end/);
      await expect(call(bindings.hostFunctions._context_block, 1.5)).rejects.toThrow(/block/);
    } finally {
      file.close();
    }
  });

  it("serves 40 concurrent slices to the guest", async () => {
    const file = new FileText(path, 1024 * 1024, { readBudget: new ByteBudget(2 * 1024 * 1024) });
    const session = await createIsolatedVmSandbox().create(bindContext(file));
    try {
      const result = await session.execute(
        [
          "const parts = await Promise.all(Array.from({ length: 40 }, async (_, i) => await context.slice(i, i + 1048576)))",
          "print(parts.length, parts.every((part) => part.length === 1048576))",
        ].join("\n"),
      );
      expect(result.error).toBeUndefined();
      expect(result.output).toBe("40 true\n");
    } finally {
      session.dispose();
      file.close();
    }
  }, 60_000);
});

describe("grep threads: bounded over the process", () => {
  it("runs greps for more contexts than threads, never holding more than MAX_GREP_THREADS", async () => {
    const contexts = Array.from(
      { length: MAX_GREP_THREADS + 4 },
      (_, index) => `doc ${index}\nneedle ${index}\n`,
    );
    const helpers = contexts.map((context) => createHostHelpers(() => context));
    let most = 0;
    const timer = setInterval(() => {
      most = Math.max(most, grepThreadCount());
    }, 1);
    try {
      const found = await Promise.all(
        helpers.flatMap((helper) => [call(helper.grep, "needle (\\d+)"), call(helper.grep, "doc")]),
      );
      expect(
        found.filter((_, index) => index % 2 === 0).map((matches) => (matches as GrepMatch[])[0]?.match),
      ).toEqual(contexts.map((_, index) => `needle ${index}`));
      most = Math.max(most, grepThreadCount());
      expect(most).toBeLessThanOrEqual(MAX_GREP_THREADS);
    } finally {
      clearInterval(timer);
    }
  }, 60_000);
});
