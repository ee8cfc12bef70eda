import { glob, readdir, readFile, stat } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { UsageError } from "../errors/usage-error.ts";
import type { Document } from "../sandboxes/host-helpers.ts";
import type { ContextInput } from "./context-input.ts";
import { FileText } from "./file-text.ts";

export interface LoadContextOptions {
  /** Where relative paths and globs start (default: the current directory). */
  cwd?: string;
  /** Reads standard input for "-". */
  stdin?: () => Promise<string>;
  /** A single file larger than this (default 256 MiB) stays on disk as a FileText, read on demand. */
  largeFileBytes?: number;
}

export const DEFAULT_LARGE_FILE_BYTES = 256 * 1024 * 1024;
/** Files in a list are read whole; above this they must be given alone (V8 strings stop near 512 MB). */
const MAX_DOCUMENT_BYTES = 500 * 1024 * 1024;

/** Folders a directory walk never enters. */
const SKIPPED_DIRECTORIES = new Set([
  ".git",
  "node_modules",
  ".hg",
  ".svn",
  "__pycache__",
  ".venv",
  "dist",
  "build",
]);
const GLOB_CHARACTERS = /[*?[\]{}]/;
/** A NUL byte in the first 8 KiB marks a binary file, which is skipped. */
const BINARY_SNIFF_BYTES = 8192;

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

/** Text with a byte-order mark: UTF-16 (either order) or UTF-8, decoded; undefined without a mark. */
function decodeWithBom(bytes: Buffer): string | undefined {
  if (bytes[0] === 0xff && bytes[1] === 0xfe) return new TextDecoder("utf-16le").decode(bytes.subarray(2));
  if (bytes[0] === 0xfe && bytes[1] === 0xff) return new TextDecoder("utf-16be").decode(bytes.subarray(2));
  if (bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) return bytes.toString("utf8", 3);
  return undefined;
}

async function readTextFile(path: string): Promise<string | undefined> {
  const bytes = await readFile(path);
  // UTF-16 text is full of NUL bytes: its byte-order mark says it is text before the binary check does.
  const marked = decodeWithBom(bytes);
  if (marked !== undefined) return marked;
  if (bytes.subarray(0, BINARY_SNIFF_BYTES).includes(0)) return undefined;
  return bytes.toString("utf8");
}

async function expand(input: string, cwd: string): Promise<string[]> {
  if (GLOB_CHARACTERS.test(input)) {
    const files: string[] = [];
    for await (const entry of glob(input, { cwd, exclude: (name) => SKIPPED_DIRECTORIES.has(name) })) {
      const path = resolve(cwd, entry);
      if ((await stat(path)).isFile()) files.push(path);
    }
    if (files.length === 0)
      throw new UsageError({ message: `--context ${input}: the pattern matches no file.` });
    return files.sort();
  }
  const path = resolve(cwd, input);
  const info = await stat(path).catch(() => undefined);
  if (info === undefined) throw new UsageError({ message: `--context ${input}: no such file or directory.` });
  if (info.isFile()) return [path];
  if (!info.isDirectory()) throw new UsageError({ message: `--context ${input}: not a file or directory.` });
  const files: string[] = [];
  const walk = async (directory: string) => {
    for (const entry of await readdir(directory, { withFileTypes: true })) {
      if (entry.isDirectory() && !SKIPPED_DIRECTORIES.has(entry.name))
        await walk(join(directory, entry.name));
      else if (entry.isFile()) files.push(join(directory, entry.name));
    }
  };
  await walk(path);
  if (files.length === 0)
    throw new UsageError({ message: `--context ${input}: the directory holds no file.` });
  return files.sort();
}

/**
 * Turns the CLI's `--context` values (files, directories, globs, or "-" for standard input) into a context:
 * one file gives a string (a `.json` file gives its parsed value), several give a list of documents whose ids
 * are paths relative to `cwd`. Binary files are skipped. A single file over `largeFileBytes` becomes a FileText.
 */
export async function loadContext(
  inputs: string[],
  options: LoadContextOptions = {},
): Promise<ContextInput | FileText> {
  const cwd = options.cwd ?? process.cwd();
  if (inputs.length === 0)
    throw new UsageError({ message: "Give the input with --context <file|dir|glob|->." });
  if (inputs.length === 1 && inputs[0] !== "-") {
    const files = await expand(inputs[0] as string, cwd);
    const only = files.length === 1 ? (files[0] as string) : undefined;
    if (
      only !== undefined &&
      (await stat(only)).size > (options.largeFileBytes ?? DEFAULT_LARGE_FILE_BYTES)
    ) {
      return new FileText(only);
    }
  }
  const documents: Document[] = [];
  let single: { path: string; text: string } | undefined;
  for (const input of inputs) {
    if (input === "-") {
      documents.push({ id: "stdin", text: await (options.stdin ?? readStdin)() });
      continue;
    }
    for (const path of await expand(input, cwd)) {
      if ((await stat(path)).size > MAX_DOCUMENT_BYTES) {
        throw new UsageError({
          message: `--context: ${relative(cwd, path)} is over ${MAX_DOCUMENT_BYTES / 2 ** 20} MiB; give it as the only --context, so that it is read on demand.`,
        });
      }
      const text = await readTextFile(path);
      if (text === undefined) continue;
      documents.push({ id: relative(cwd, path) || path, text });
      single = { path, text };
    }
  }
  if (documents.length === 0)
    throw new UsageError({ message: `--context ${inputs.join(" ")}: only binary files, no text.` });
  if (documents.length > 1) return documents;
  const only = documents[0] as Document;
  if (single?.path.endsWith(".json") && inputs.length === 1) {
    try {
      return JSON.parse(only.text) as ContextInput;
    } catch {
      return only.text;
    }
  }
  return only.text;
}
