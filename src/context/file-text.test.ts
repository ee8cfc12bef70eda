import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { createIsolatedVmSandbox } from "../sandboxes/isolated-vm/isolated-vm-sandbox.ts";
import { bindContext } from "./context-bindings.ts";
import { FileText } from "./file-text.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-file-text-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function makeFile(lines: number): { path: string; text: string } {
  const rows = Array.from(
    { length: lines },
    (_, index) => `row ${index + 1} value=${(index * 7919) % 10007} é\n`,
  );
  rows[lines - 3] = `row ${lines - 2} NEEDLE=4242 é\n`;
  const text = rows.join("");
  const path = join(root, `file-${lines}.txt`);
  writeFileSync(path, text);
  return { path, text };
}

describe("FileText", () => {
  it("splits into blocks of whole lines and reads slices by byte offset", () => {
    const { path, text } = makeFile(5000);
    const file = new FileText(path, 4096);
    try {
      expect(file.size).toBe(Buffer.byteLength(text));
      expect(file.blockCount).toBeGreaterThan(10);
      const blocks = Array.from({ length: file.blockCount }, (_, index) => file.block(index));
      expect(blocks.join("")).toBe(text);
      for (const block of blocks) expect(block.endsWith("\n")).toBe(true);
      expect(file.read(0, 5)).toBe("row 1");
      expect(() => file.block(file.blockCount)).toThrow(/does not exist/);
    } finally {
      file.close();
    }
  });

  it("greps across blocks with file-wide lines and byte offsets", async () => {
    const { path, text } = makeFile(5000);
    const file = new FileText(path, 4096);
    try {
      const [match] = await file.grep("NEEDLE=(\\d+)");
      expect(match?.line).toBe(4998);
      expect(match?.match).toBe("NEEDLE=4242");
      const byteOffset = Buffer.byteLength(text.slice(0, text.indexOf("NEEDLE")));
      expect(match?.offset).toBe(byteOffset);
      expect(file.read(match?.offset, (match?.offset ?? 0) + 11)).toBe("NEEDLE=4242");
      expect(await file.grep("value=\\d+", { maxMatches: 3 })).toHaveLength(3);
    } finally {
      file.close();
    }
  });
});

describe("a file context inside the sandbox", () => {
  it("is read on demand through context.slice, context.block and grep", async () => {
    const { path } = makeFile(20000);
    const file = new FileText(path, 64 * 1024);
    const bindings = bindContext(file);
    const session = await createIsolatedVmSandbox().create(bindings);
    try {
      const result = await session.execute(
        [
          "const hit = grep('NEEDLE=(\\\\d+)')[0]",
          "const around = context.slice(hit.offset, hit.offset + 11)",
          "let rows = 0",
          "for (let i = 0; i < context.blockCount; i++) rows += context.block(i).split('\\n').length - 1",
          "print(context.kind, hit.line, around, rows, context.length > 0)",
          "try { String(context) } catch (e) { print(e.message.includes('too large')) }",
        ].join("\n"),
      );
      expect(result.error).toBeUndefined();
      expect(result.output).toBe("file 19998 NEEDLE=4242 20000 true\ntrue\n");
    } finally {
      session.dispose();
      file.close();
    }
  });
});

describe("a file context inside the Python sandbox", () => {
  it("is read on demand through context.slice, context.block and grep", async () => {
    const { createPythonSandbox } = await import("../sandboxes/python/python-sandbox.ts");
    const { path } = makeFile(20000);
    const file = new FileText(path, 64 * 1024);
    const session = await createPythonSandbox().create(bindContext(file, "python"));
    try {
      const result = await session.execute(
        [
          "hit = grep(r'NEEDLE=(\\d+)')[0]",
          "around = context.slice(hit['offset'], hit['offset'] + 11)",
          "rows = sum(context.block(i).count('\\n') for i in range(context.blockCount))",
          "print(context.kind, hit['line'], around, rows, len(context) > 0, context_0 is context)",
          "try:\n    str(context)\nexcept ValueError as e:\n    print('too large' in str(e))",
        ].join("\n"),
      );
      expect(result.error).toBeUndefined();
      expect(result.output).toBe("file 19998 NEEDLE=4242 20000 True True\nTrue\n");
    } finally {
      session.dispose();
      file.close();
    }
  }, 60_000);
});
