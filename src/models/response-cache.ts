import { createHash, randomUUID } from "node:crypto";
import { mkdirSync, readFileSync, renameSync, writeFileSync } from "node:fs";
import { join } from "node:path";
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

  constructor(directory: string) {
    this.directory = directory;
    mkdirSync(directory, { recursive: true });
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
