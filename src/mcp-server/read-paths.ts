import type { Dirent } from "node:fs";
import { opendir, realpath, stat } from "node:fs/promises";
import { isAbsolute, join, relative, resolve, sep } from "node:path";
import { MAX_AGENT_FILE_BYTES, readFileUnderRoot } from "../agent/rlm-query-tool.ts";
import type { ContextInput } from "../context/context-input.ts";
import type { Document } from "../sandboxes/host-helpers.ts";
import { close, compileGlob, complete, GLOB_CHARACTERS, type Segment, step } from "./glob-pattern.ts";

/**
 * `rlm_run`'s `paths`: files, folders and globs named by an MCP client, read as a context. The client is
 * outside the machine's trust (often a model following instructions found in data), so every file is read
 * through readFileUnderRoot (the agent's rlm_query rule: under the root after links are resolved, no hidden
 * part, a regular text file, opened without blocking), and the expansion is bounded in files, entries walked,
 * bytes and time. Globs are matched by our own walk (glob-pattern.ts: braces bounded, no backtracking), which
 * lists folders a few entries at a time and checks the budget at every entry, so a huge folder or a hostile
 * pattern ends in a clear error, never a blocked server.
 */

export interface ReadPathsOptions {
  /** The folder paths are relative to (the server's working directory, or `--root`). */
  root: string;
  /** Total bytes of the files read (checked from their sizes before anything is read). */
  maxBytes: number;
  /** Files in all (default 10,000). */
  maxFiles?: number;
  /** Directory entries and glob candidates looked at, in all (default 100,000). */
  maxEntries?: number;
  /** Time the expansion may take, in ms (default 10,000). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

const DEFAULT_MAX_FILES = 10_000;
const DEFAULT_MAX_ENTRIES = 100_000;
const DEFAULT_TIMEOUT_MS = 10_000;
/** Folders a walk never enters besides hidden ones (dependencies and caches, not the user's text). */
const SKIPPED_FOLDERS = new Set(["node_modules", "__pycache__"]);

/** A file to read, and whether the client named it (an error) or a walk found it (a binary one is skipped). */
interface Candidate {
  path: string;
  named: boolean;
}

const inside = (path: string, base: string) => path === base || path.startsWith(base + sep);
const hidden = (relativePath: string) => relativePath.split(/[\\/]/).some((part) => part.startsWith("."));

/** Reads `paths` into a context: one file gives its text (a `.json` file its value), several a document list. */
export async function readPaths(paths: string[], options: ReadPathsOptions): Promise<ContextInput> {
  const root = resolve(options.root);
  const realRoot = await realpath(root);
  const limits = {
    files: options.maxFiles ?? DEFAULT_MAX_FILES,
    entries: options.maxEntries ?? DEFAULT_MAX_ENTRIES,
  };
  const deadline = AbortSignal.timeout(options.timeoutMs ?? DEFAULT_TIMEOUT_MS);
  const signal = options.signal ? AbortSignal.any([options.signal, deadline]) : deadline;
  let entries = 0;
  const seen = new Set<string>();
  const candidates: Candidate[] = [];
  const look = () => {
    if (deadline.aborted) throw new Error("listing the paths took too long; name fewer or smaller folders");
    signal.throwIfAborted();
    if (++entries > limits.entries) {
      throw new Error(`the paths cover more than ${limits.entries} entries; name fewer or smaller folders`);
    }
  };
  const add = (path: string, named: boolean) => {
    if (seen.has(path)) return;
    seen.add(path);
    if (candidates.length >= limits.files)
      throw new Error(`the paths name more than ${limits.files} files; narrow them`);
    candidates.push({ path, named });
  };

  for (const given of paths) {
    if (given.includes("\0")) throw new Error("a path must not hold a NUL character");
    if (GLOB_CHARACTERS.test(given)) {
      if (isAbsolute(given) || given.includes(".."))
        throw new Error(
          `${given}: a glob must be relative to the server's root folder (--root) and hold no ".."`,
        );
      const before = candidates.length;
      for (const segments of compileGlob(given)) {
        await walk(root, look, (file) => add(file, false), segments);
      }
      if (candidates.length === before) throw new Error(`${given}: the pattern matches no file`);
      continue;
    }
    const path = resolve(root, given);
    if (!inside(path, root))
      throw new Error(`${given}: paths must be inside the server's root folder (--root)`);
    if (hidden(relative(root, path)))
      throw new Error(`${given}: paths must not name a hidden file or folder (a part starting with a dot)`);
    const info = await stat(path).catch(() => undefined);
    if (info === undefined) throw new Error(`${given}: no such file or folder`);
    if (!info.isDirectory()) {
      add(path, true);
      continue;
    }
    // A folder is walked only when its real path is under the root (a link out is refused, not listed).
    if (!inside(await realpath(path), realRoot))
      throw new Error(
        `${given}: paths must be inside the server's root folder (--root) (a link leads outside)`,
      );
    const before = candidates.length;
    await walk(path, look, (file) => add(file, false));
    if (candidates.length === before) throw new Error(`${given}: the folder holds no file`);
  }
  return readCandidates(candidates, { root, realRoot, maxBytes: options.maxBytes, signal });
}

/**
 * Files under `folder`, depth first in name order; hidden entries, skipped folders and links are left out. With
 * `segments` (a compiled glob, relative to `folder`), only the files it matches, and only folders it can still
 * match are entered.
 */
async function walk(
  folder: string,
  look: () => void,
  found: (path: string) => void,
  segments?: Segment[],
  positions: number[] = segments ? close(segments, [0]) : [],
): Promise<void> {
  for (const entry of await listFolder(folder, look)) {
    if (entry.name.startsWith(".")) continue;
    const path = join(folder, entry.name);
    const next = segments ? step(segments, positions, entry.name) : positions;
    if (entry.isDirectory() && !SKIPPED_FOLDERS.has(entry.name)) {
      if (!segments || next.length > 0) await walk(path, look, found, segments, next);
    } else if (entry.isFile() && (!segments || complete(segments, next))) found(path);
  }
}

/**
 * A folder's entries in name order, read a few at a time with `look` called for each: a folder of a million
 * entries ends at the entry budget instead of being listed whole first.
 */
async function listFolder(folder: string, look: () => void): Promise<Dirent[]> {
  const entries: Dirent[] = [];
  const dir = await opendir(folder, { bufferSize: 256 });
  try {
    for (let entry = await dir.read(); entry !== null; entry = await dir.read()) {
      look();
      entries.push(entry);
    }
  } finally {
    await dir.close().catch(() => undefined);
  }
  return entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

async function readCandidates(
  candidates: Candidate[],
  where: { root: string; realRoot: string; maxBytes: number; signal: AbortSignal },
): Promise<ContextInput> {
  const { root, maxBytes, signal } = where;
  let total = 0;
  for (const { path } of candidates) {
    // Sizes are summed before anything is read, and only of files that are really under the root.
    const real = await realpath(path);
    if (!inside(real, where.realRoot)) {
      throw new Error(
        `${relative(root, path)}: paths must be inside the server's root folder (--root) (a link leads outside)`,
      );
    }
    total += (await stat(real)).size;
    if (total > maxBytes) throw new Error(overBudget(maxBytes));
  }
  const documents: Document[] = [];
  // Files may grow between their sizes and their reading: each read gets what the total has left.
  let left = maxBytes;
  for (const { path, named } of candidates) {
    const id = relative(root, path);
    try {
      const text = await readFileUnderRoot(root, id, { signal, maxBytes: Math.max(0, left) });
      left -= Buffer.byteLength(text);
      documents.push({ id, text });
    } catch (error) {
      const message = (error as Error).message;
      // A binary file found by a walk or a glob is skipped, as `rlm run --context DIR` does; one named is an error.
      if (!named && /is a binary file$/.test(message)) continue;
      if (/bytes are read$/.test(message) && left < MAX_AGENT_FILE_BYTES)
        throw new Error(overBudget(maxBytes));
      throw error;
    }
  }
  if (documents.length === 0) throw new Error("the paths hold only binary files, no text");
  if (documents.length > 1) return documents;
  const only = documents[0] as Document;
  if (only.id.endsWith(".json") && candidates.length === 1) {
    try {
      return JSON.parse(only.text) as ContextInput;
    } catch {
      return only.text;
    }
  }
  return only.text;
}

function overBudget(maxBytes: number): string {
  return `the paths hold more than ${formatBytes(maxBytes)} (the server's --max-input-mb); name fewer files`;
}

function formatBytes(bytes: number): string {
  return bytes >= 2 ** 20 ? `${Math.round((bytes / 2 ** 20) * 10) / 10} MiB` : `${bytes} bytes`;
}
