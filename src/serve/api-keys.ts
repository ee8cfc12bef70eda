/**
 * API keys of `rlm serve`: a JSON file of entries, each a name, the key's SHA-256 and its limits. A key is a
 * random 32-byte secret shown once by `rlm keys add`; only its hash is stored (a fast hash is enough for a
 * secret that cannot be guessed). The file is written whole to a temporary file and renamed into place (mode
 * 0600), under a lock folder, so a reader never sees half a file and two writers never lose each other's key.
 * A running server reads the file again when it changes (a removed key stops within a second; an unknown
 * key makes it look at once, so a key just added works).
 *
 * File format (version 1):
 * {"version": 1, "keys": [{"name": "alice", "hash": "sha256:<hex>", "createdAt": "<ISO>",
 *   "maxCostPerDay": 5, "maxConcurrent": 2, "maxRequestsPerMinute": 60}]}
 */
import { createHash, randomBytes } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, rmdirSync, statSync, writeFileSync } from "node:fs";
import { dirname } from "node:path";
import { UsageError } from "../errors/usage-error.ts";

export interface KeyLimits {
  /** USD a key may spend per UTC day (needs the price of every model it uses). */
  maxCostPerDay?: number;
  /** Runs of the key at once (chat completions in flight and /v1/runs not ended). */
  maxConcurrent?: number;
  /** Requests that start a run, per minute (a sliding window). */
  maxRequestsPerMinute?: number;
}

export interface KeyEntry extends KeyLimits {
  /** Who the key is for; the owner of its runs and the name its usage is recorded under. */
  name: string;
  /** `sha256:<hex>` of the key. */
  hash: string;
  createdAt: string;
}

/** A new key: `sk-rlm-` and 32 random bytes (base64url). The prefix lets secret redaction recognise it. */
export function newApiKey(): string {
  return `sk-rlm-${randomBytes(32).toString("base64url")}`;
}

export function hashApiKey(key: string): string {
  return `sha256:${createHash("sha256").update(key, "utf8").digest("hex")}`;
}

const NAME = /^[\w.@-]{1,100}$/;

export function checkKeyName(name: string): void {
  if (!NAME.test(name)) {
    throw new UsageError({
      message: `The key name "${name.slice(0, 120)}" must be 1 to 100 letters, digits, or . _ - @.`,
    });
  }
}

function isLimit(value: unknown, integer: boolean): boolean {
  return (
    value === undefined ||
    (typeof value === "number" &&
      Number.isFinite(value) &&
      value > 0 &&
      (!integer || Number.isSafeInteger(value)))
  );
}

/** The keys of a file, checked; a missing file has none. A malformed one is a UsageError naming it. */
export function readKeysFile(path: string): KeyEntry[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return [];
    throw new UsageError({
      message: `Cannot read the keys file ${path} (${(error as NodeJS.ErrnoException).code ?? "error"}).`,
    });
  }
  const bad = (why: string) =>
    new UsageError({ message: `The keys file ${path} is not one rlm keys wrote: ${why}.` });
  let parsed: { version?: unknown; keys?: unknown };
  try {
    parsed = JSON.parse(text);
  } catch {
    throw bad("it is not JSON");
  }
  if (parsed?.version !== 1 || !Array.isArray(parsed.keys)) throw bad('no {"version": 1, "keys": [...]}');
  const names = new Set<string>();
  for (const [index, entry] of (parsed.keys as unknown[]).entries()) {
    const key = entry as Partial<KeyEntry> | null;
    const ok =
      typeof key === "object" &&
      key !== null &&
      typeof key.name === "string" &&
      NAME.test(key.name) &&
      !names.has(key.name) &&
      typeof key.hash === "string" &&
      /^sha256:[0-9a-f]{64}$/.test(key.hash) &&
      typeof key.createdAt === "string" &&
      isLimit(key.maxCostPerDay, false) &&
      isLimit(key.maxConcurrent, true) &&
      isLimit(key.maxRequestsPerMinute, true);
    if (!ok) throw bad(`entry ${index + 1} is malformed or repeats a name`);
    names.add(key.name as string);
  }
  return parsed.keys as KeyEntry[];
}

/** Holds a lock folder beside the file while `change` runs; a lock older than 30 s is taken as abandoned. */
function withLock<T>(path: string, change: () => T): T {
  const lock = `${path}.lock`;
  const deadline = Date.now() + 5_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") {
        throw new UsageError({
          message: `Cannot write beside the keys file ${path} (${(error as NodeJS.ErrnoException).code}).`,
        });
      }
      const age = Date.now() - (statSync(lock, { throwIfNoEntry: false })?.mtimeMs ?? Date.now());
      if (age > 30_000) rmdirSync(lock);
      else if (Date.now() > deadline) {
        throw new UsageError({ message: `The keys file ${path} is locked (${lock}); try again.` });
      } else Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
  try {
    return change();
  } finally {
    rmdirSync(lock);
  }
}

function writeKeysFile(path: string, keys: KeyEntry[]): void {
  const temporary = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  writeFileSync(temporary, `${JSON.stringify({ version: 1, keys }, null, 2)}\n`, { mode: 0o600 });
  renameSync(temporary, path);
}

/** Adds a key named `name`; returns the key itself (shown once, never stored). */
export function addApiKey(
  path: string,
  name: string,
  limits: KeyLimits = {},
): { key: string; entry: KeyEntry } {
  checkKeyName(name);
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  return withLock(path, () => {
    const keys = readKeysFile(path);
    if (keys.some((entry) => entry.name === name)) {
      throw new UsageError({
        message: `A key named "${name}" is in ${path} already: remove it first (rlm keys remove ${name}) or pick another name.`,
      });
    }
    const key = newApiKey();
    const entry: KeyEntry = {
      name,
      hash: hashApiKey(key),
      createdAt: new Date().toISOString(),
      ...Object.fromEntries(Object.entries(limits).filter(([, value]) => value !== undefined)),
    };
    writeKeysFile(path, [...keys, entry]);
    return { key, entry };
  });
}

/** Removes the key named `name`; false when there is none. */
export function removeApiKey(path: string, name: string): boolean {
  return withLock(path, () => {
    const keys = readKeysFile(path);
    const kept = keys.filter((entry) => entry.name !== name);
    if (kept.length === keys.length) return false;
    writeKeysFile(path, kept);
    return true;
  });
}

/** The keys a server accepts, read again whenever the file changes (checked at most once a second). */
export class KeyRing {
  readonly path: string;
  private byHash = new Map<string, KeyEntry>();
  private version = "";
  private checkedAt = 0;

  constructor(path: string) {
    this.path = path;
    this.reload();
  }

  /** The entries as the file holds them now. */
  get entries(): KeyEntry[] {
    this.refresh();
    return [...this.byHash.values()];
  }

  /** The entry of a presented key, or undefined for a key the file does not hold. */
  lookup(presented: string): KeyEntry | undefined {
    const hash = hashApiKey(presented);
    this.refresh();
    if (!this.byHash.has(hash)) this.refresh(true); // a key added a moment ago
    return this.byHash.get(hash);
  }

  /** Reads the file again if it changed; without `force`, looks at most once a second. */
  private refresh(force = false): void {
    const now = Date.now();
    if (!force && now - this.checkedAt < 1_000) return;
    this.checkedAt = now;
    const stat = statSync(this.path, { throwIfNoEntry: false });
    const version = stat ? `${stat.mtimeMs}:${stat.size}:${stat.ino}` : "";
    // A file that turns unreadable keeps the keys last read: a server does not open up on a bad edit.
    if (version !== this.version) {
      try {
        this.reload();
      } catch {
        this.version = version;
      }
    }
  }

  private reload(): void {
    const stat = statSync(this.path, { throwIfNoEntry: false });
    this.byHash = new Map(readKeysFile(this.path).map((entry) => [entry.hash, entry]));
    this.version = stat ? `${stat.mtimeMs}:${stat.size}:${stat.ino}` : "";
  }
}
