/** `rlm_query`'s file reading against hostile paths (found by an attack review: a glob escaped the folder). */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { readAgentFile } from "./rlm-query-tool.ts";

const base = mkdtempSync(join(tmpdir(), "rlmkit-agent-files-"));
const root = join(base, "root");
mkdirSync(join(root, "sub"), { recursive: true });
mkdirSync(join(root, ".secrets"));
writeFileSync(join(base, "outside.txt"), "the host's secret");
writeFileSync(join(root, "notes.txt"), "fine to read");
writeFileSync(join(root, ".env"), "KEY=1");
writeFileSync(join(root, "blob.bin"), Buffer.from([1, 0, 2]));
symlinkSync(join(base, "outside.txt"), join(root, "link.txt"));
afterAll(() => rmSync(base, { recursive: true, force: true }));

describe("rlm_query reads only plain files under the working directory", () => {
  it("reads a file inside", async () => {
    expect(await readAgentFile(root, "notes.txt")).toBe("fine to read");
  });

  it.each([
    ["a glob that expands to the parent", "{..,x}/outside.txt", /glob characters/],
    ["a wildcard", "*.txt", /glob characters/],
    ["the parent", "../outside.txt", /inside the working directory/],
    ["an absolute path", "/etc/hostname", /inside the working directory/],
    ["a link that leads outside", "link.txt", /a link leads outside/],
    ["a hidden file", ".env", /hidden file/],
    ["a file in a hidden folder", ".secrets/x", /hidden file/],
    ["a folder", "sub", /not a regular file/],
    ["a binary file", "blob.bin", /binary file/],
    ["a missing file", "nope.txt", /no file at nope.txt/],
  ])("refuses %s", async (_, path, message) => {
    await expect(readAgentFile(root, path)).rejects.toThrow(message);
  });
});
