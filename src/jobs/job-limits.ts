/**
 * What every job queue checks and caps, so that the in-process and the PostgreSQL queue keep the same rules:
 * specs, results and events are JSON (copied, never live objects), each under a size limit, and a job's events
 * are capped in number and bytes. Whatever is over a limit is refused (spec, owner), failed (result) or
 * replaced by a small marker event (events), never stored whole.
 */
import { JobError } from "../errors/job-error.ts";
import { redactSecrets } from "../models/redact-secrets.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

export const JOB_LIMITS = {
  /** A submitted spec, as JSON. */
  specBytes: 1 * MiB,
  /** What an executor returns, as JSON; a larger result fails the job. */
  resultBytes: 16 * MiB,
  /** One event, as JSON; a larger one is stored as an `event-too-large` marker. */
  eventBytes: 256 * KiB,
  /** Events kept per job (all attempts together); later ones are dropped after one `events-dropped` marker. */
  eventsPerJob: 10_000,
  /** Bytes of events kept per job. */
  eventBytesPerJob: 16 * MiB,
  /** The `error` line of a failed job. */
  errorChars: 1000,
  /** The `owner` of a job. */
  ownerChars: 200,
} as const;

const invalid = (message: string) => new JobError({ message, reason: "invalid" });

function byteLength(text: string): number {
  return Buffer.byteLength(text, "utf8");
}

/** JSON text of `value`, or undefined when it cannot be written as JSON (a cycle, a BigInt). */
function toJson(value: unknown): string | undefined {
  try {
    return JSON.stringify(value === undefined ? null : value) ?? "null";
  } catch {
    return undefined;
  }
}

/** The spec as JSON text; a JobError ("invalid") when it is not JSON or too large. */
export function specJson(spec: unknown): string {
  const json = toJson(spec);
  if (json === undefined) throw invalid("a job's spec must be JSON (no cycles, functions or BigInts)");
  const bytes = byteLength(json);
  if (bytes > JOB_LIMITS.specBytes) {
    throw invalid(`a job's spec is ${bytes} bytes as JSON, more than the ${JOB_LIMITS.specBytes} allowed`);
  }
  return json;
}

/** The owner as given, checked; a JobError ("invalid") for a non-string or one that is too long. */
export function checkedOwner(owner: unknown): string | undefined {
  if (owner === undefined) return undefined;
  if (typeof owner !== "string" || owner.length > JOB_LIMITS.ownerChars) {
    throw invalid(`a job's owner must be a string of at most ${JOB_LIMITS.ownerChars} characters`);
  }
  return owner;
}

/** The `after` of an events request: a whole number of 0 or more (default 0). */
export function checkedAfter(after: unknown): number {
  if (after === undefined) return 0;
  if (typeof after !== "number" || !Number.isSafeInteger(after) || after < 0) {
    throw invalid("`after` must be a whole number of 0 or more (the last event number read)");
  }
  return after;
}

/** The executor's result as JSON text, or the one-line reason it cannot be stored. */
export function resultJson(result: unknown): { json: string } | { error: string } {
  const json = toJson(result);
  if (json === undefined) return { error: "the run's result is not JSON" };
  const bytes = byteLength(json);
  if (bytes > JOB_LIMITS.resultBytes) {
    return {
      error: `the run's result is ${bytes} bytes as JSON, more than the ${JOB_LIMITS.resultBytes} kept`,
    };
  }
  return { json };
}

/** Control characters (C0 but tab, DEL) as spaces: PostgreSQL's text refuses NUL, and a line has no CR. */
function withoutControls(text: string): string {
  let out = "";
  for (const char of text) {
    const code = char.charCodeAt(0);
    out += (code < 0x20 && code !== 0x09) || code === 0x7f ? " " : char;
  }
  return out;
}

/**
 * Why a job failed, as one line without secrets: the first line of an error's message, cut to size, without
 * control characters (a NUL would make PostgreSQL refuse the job's ending, and the job would run again).
 */
export function errorLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  const firstLine = message.slice(0, JOB_LIMITS.errorChars * 4).split(/\r?\n/, 1)[0] ?? "";
  const first = withoutControls(firstLine).trim() || (error instanceof Error ? error.name : "error");
  const line = redactSecrets(first);
  return line.length > JOB_LIMITS.errorChars ? `${line.slice(0, JOB_LIMITS.errorChars - 3)}...` : line;
}

/**
 * Counts one job's events against the per-job limits and turns each event into the JSON text to store:
 * the event itself, a marker in its place (too large, not JSON), the one `events-dropped` marker when the job
 * reaches its limits, or undefined (dropped) after that.
 */
export class EventBudget {
  private count: number;
  private bytes: number;
  private exhausted = false;

  /** `count` and `bytes`: what the job's earlier attempts stored already. */
  constructor(count = 0, bytes = 0) {
    this.count = count;
    this.bytes = bytes;
  }

  /** Stores nothing more from now on. */
  exhaust(): void {
    this.exhausted = true;
  }

  admit(event: unknown): string | undefined {
    if (this.exhausted) return undefined;
    let json = toJson(event) ?? JSON.stringify({ type: "event-not-json" });
    const size = byteLength(json);
    if (size > JOB_LIMITS.eventBytes) json = JSON.stringify({ type: "event-too-large", bytes: size });
    const stored = byteLength(json);
    // One place is kept for the marker, so a job at its limits always says so.
    if (this.count + 2 > JOB_LIMITS.eventsPerJob || this.bytes + stored > JOB_LIMITS.eventBytesPerJob) {
      this.exhausted = true;
      json = JSON.stringify({
        type: "events-dropped",
        reason: `the job reached its limit of ${JOB_LIMITS.eventsPerJob} events or ${JOB_LIMITS.eventBytesPerJob} bytes`,
      });
    }
    this.count += 1;
    this.bytes += byteLength(json);
    return json;
  }
}
