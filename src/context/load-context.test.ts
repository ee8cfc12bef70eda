import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { UsageError } from "../errors/usage-error.ts";
import { describeContext } from "./context-input.ts";
import { FileText } from "./file-text.ts";
import { loadContext } from "./load-context.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-context-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

mkdirSync(join(root, "logs/nested"), { recursive: true });
mkdirSync(join(root, "logs/node_modules"), { recursive: true });
writeFileSync(join(root, "one.txt"), "just one file\n");
writeFileSync(join(root, "data.json"), '{"rows":[1,2]}');
writeFileSync(join(root, "logs/a.log"), "alpha\n");
writeFileSync(join(root, "logs/nested/b.log"), "beta\n");
writeFileSync(join(root, "logs/node_modules/skip.log"), "skipped\n");
writeFileSync(join(root, "logs/image.bin"), Buffer.from([1, 0, 2, 3]));

describe("loadContext", () => {
  it("decodes UTF-16 text files by their byte-order mark instead of skipping them as binary", async () => {
    const text = "héllo wörld\nsecond line\n";
    writeFileSync(
      join(root, "utf16le.txt"),
      Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(text, "utf16le")]),
    );
    const be = Buffer.from(text, "utf16le").swap16();
    writeFileSync(join(root, "utf16be.txt"), Buffer.concat([Buffer.from([0xfe, 0xff]), be]));
    expect(await loadContext([join(root, "utf16le.txt")])).toBe(text);
    expect(await loadContext([join(root, "utf16be.txt")])).toBe(text);
  });

  it("reads one file as a string", async () => {
    expect(await loadContext(["one.txt"], { cwd: root })).toBe("just one file\n");
  });

  it("parses a single JSON file", async () => {
    expect(await loadContext(["data.json"], { cwd: root })).toEqual({ rows: [1, 2] });
  });

  it("reads a directory as documents, skipping node_modules and binary files", async () => {
    expect(await loadContext(["logs"], { cwd: root })).toEqual([
      { id: "logs/a.log", text: "alpha\n" },
      { id: "logs/nested/b.log", text: "beta\n" },
    ]);
  });

  it("expands globs and combines repeated inputs", async () => {
    const context = await loadContext(["logs/**/*.log", "one.txt"], { cwd: root });
    expect((context as Array<{ id: string }>).map((document) => document.id)).toEqual([
      "logs/a.log",
      "logs/nested/b.log",
      "one.txt",
    ]);
  });

  it("reads standard input for -", async () => {
    expect(await loadContext(["-"], { cwd: root, stdin: async () => "piped" })).toBe("piped");
  });

  it("names the missing path in a usage error", async () => {
    const error = await loadContext(["missing.txt"], { cwd: root }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(UsageError);
    expect((error as Error).message).toContain("missing.txt");
    await expect(loadContext(["nothing/*.md"], { cwd: root })).rejects.toThrow(/matches no file/);
  });
});

describe("describeContext", () => {
  it("describes a string without including it whole", () => {
    const text = `${"x".repeat(2000)}\nend`;
    const metadata = describeContext(text);
    expect(metadata).toMatchObject({ type: "string", chars: 2004, lines: 2 });
    expect(metadata.preview.length).toBe(500);
  });

  it("describes documents with counts and sizes", () => {
    expect(describeContext([{ id: "a", text: "12" }, "3456"])).toMatchObject({
      type: "documents",
      chars: 6,
      documents: 2,
      documentChars: { min: 2, max: 4, mean: 3 },
      documentIds: ["a", "1"],
    });
  });

  it("describes JSON", () => {
    expect(describeContext({ a: 1 })).toMatchObject({ type: "json", chars: 7, preview: '{"a":1}' });
  });
});

describe("loadContext with a large file", () => {
  it("keeps a file over the threshold on disk as a FileText", async () => {
    writeFileSync(join(root, "big.log"), "line\n".repeat(10_000));
    const context = await loadContext(["big.log"], { cwd: root, largeFileBytes: 1000 });
    expect(context).toBeInstanceOf(FileText);
    const file = context as FileText;
    expect(describeContext(file)).toMatchObject({ type: "file", chars: 50_000, blocks: 1 });
    file.close();
  });
});
