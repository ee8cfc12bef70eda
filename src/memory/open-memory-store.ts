import { homedir } from "node:os";
import { join } from "node:path";
import type { MemoryStore } from "../spec/memory-store.ts";

export interface OpenMemoryStoreOptions {
  /** Where one-line warnings go (e.g. vector search off because sqlite-vec could not load). */
  warn?: (line: string) => void;
}

/** Whether a `--db` value names a PostgreSQL server rather than a SQLite file. */
export function isPostgresLocation(location: string): boolean {
  return /^postgres(ql)?:\/\//i.test(location);
}

/** The SQLite file used when neither `--db` nor RLM_MEMORY_DB says otherwise. */
export function defaultMemoryLocation(env: NodeJS.ProcessEnv = process.env): string {
  const fromEnv = env.RLM_MEMORY_DB?.trim();
  return fromEnv ? fromEnv : join(homedir(), ".rlmkit", "memory.db");
}

/**
 * The one place a location string becomes a MemoryStore: a `postgres://` URL opens the PostgreSQL store,
 * anything else is a SQLite file. Each store's code loads only when used.
 */
export async function openMemoryStore(
  location: string,
  options: OpenMemoryStoreOptions = {},
): Promise<MemoryStore> {
  if (isPostgresLocation(location)) {
    const { openPostgresMemoryStore } = await import("./stores/postgres/postgres-memory-store.ts");
    return openPostgresMemoryStore(location, options);
  }
  const { openSqliteMemoryStore } = await import("./stores/sqlite/sqlite-memory-store.ts");
  return openSqliteMemoryStore(location, options);
}
