import { createHash, randomUUID } from "node:crypto";
import { accessSync, constants, mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigError } from "../errors/config-error.ts";
import type { CallUsage } from "./usage.ts";

/** What a cache keeps of a model response. */
export interface CachedResponse {
  text: string;
  usage: CallUsage;
  finishReason: string;
}

/** A store of model responses keyed by the full request. */
export interface ResponseCache {
  get(key: string): CachedResponse | undefined;
  set(key: string, value: CachedResponse): void;
}

/** A stable key for a request: a SHA-256 of its canonical JSON. */
export function requestCacheKey(request: unknown): string {
  return createHash("sha256").update(JSON.stringify(request)).digest("hex");
}

/**
 * Responses as one JSON file each under a directory, for reproducible benchmarks.
 * Writes go to a temporary file first, then rename, so a crash never leaves half a file.
 */
export class DiskResponseCache implements ResponseCache {
  readonly directory: string;

  /** Throws a ConfigError naming the directory when it cannot be created or written. */
  constructor(directory: string) {
    this.directory = directory;
    try {
      mkdirSync(directory, { recursive: true });
      accessSync(directory, constants.W_OK);
    } catch (error) {
      throw new ConfigError({
        message: `Cannot use the cache directory ${directory}: ${(error as NodeJS.ErrnoException).code ?? "error"}. Give a writable folder (--cache-dir).`,
      });
    }
  }

  private pathOf(key: string): string {
    return join(this.directory, `${key}.json`);
  }

  get(key: string): CachedResponse | undefined {
    try {
      return JSON.parse(readFileSync(this.pathOf(key), "utf8")) as CachedResponse;
    } catch {
      return undefined;
    }
  }

  set(key: string, value: CachedResponse): void {
    const temporary = `${this.pathOf(key)}.${randomUUID()}.tmp`;
    writeFileSync(temporary, JSON.stringify(value));
    renameSync(temporary, this.pathOf(key));
  }
}
