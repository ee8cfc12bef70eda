import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import type { RunEvent, RunEventListener } from "../engine/run-events.ts";
import { UsageError } from "../errors/usage-error.ts";
import { collectSecrets, redactSecrets } from "../models/redact-secrets.ts";
import type { TraceEvent, TraceSink } from "../spec/trace-sink.ts";
import { convertOfficialLog, isOfficialLog } from "./official-trace.ts";

/**
 * Writes run events to a JSONL file, one event per line, with secrets redacted: a TraceSink (spec/trace-sink.ts).
 * A write that fails (disk full) never stops the run: writing stops, and `failure` says why, for a warning beside
 * the answer. Writes are synchronous, so there is nothing to flush and `close` returns at once.
 */
export interface TraceWriter extends TraceSink {
  /** The same function as `write`, typed for `onEvent`. */
  listener: RunEventListener;
  close(): void;
  /** Why the trace stopped being written, when it did. */
  readonly failure: string | undefined;
}

export function createJsonlTraceWriter(path: string, secrets: string[] = collectSecrets()): TraceWriter {
  let fd: number;
  try {
    // Only the owner may read a new trace: it holds prompts, code output and data.
    fd = openSync(path, "w", 0o600);
  } catch (error) {
    throw new UsageError({
      message: `Cannot write the trace ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}. Give a path in an existing, writable folder.`,
    });
  }
  let open = true;
  let failure: string | undefined;
  const write = (event: TraceEvent) => {
    if (!open || failure !== undefined) return;
    try {
      writeSync(fd, `${redactSecrets(JSON.stringify(event), secrets)}\n`);
    } catch (error) {
      failure = `the trace ${path} could not be written (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}); it holds the events before that`;
    }
  };
  return {
    write,
    listener: write,
    close() {
      if (!open) return;
      open = false;
      try {
        closeSync(fd);
      } catch {
        // the failure, if any, is already recorded
      }
    },
    get failure() {
      return failure;
    },
  };
}

/** Reads a trace: rlmkit's own, or an official RLM log converted on the fly. */
export function readJsonlTrace(path: string, onWarning?: (message: string) => void): RunEvent[] {
  const lines: number[] = [];
  const records = readJsonlRecords(path, onWarning, lines);
  if (isOfficialLog(records)) return convertOfficialLog(records, onWarning, lines);
  if (!records.every(isRunEvent)) {
    throw new UsageError({
      message: `${path} is neither an rlmkit trace (rlm run --trace) nor a log of the official RLM (metadata and iteration records).`,
    });
  }
  return records;
}

const RUN_EVENT_TYPES = new Set([
  "run-start",
  "iteration-start",
  "iteration-end",
  "subcall-start",
  "subcall-end",
  "run-end",
  "memory",
  "compaction",
  "verification",
  "tool-start",
  "tool-end",
  "privacy-audit",
]);

function isRunEvent(record: unknown): record is RunEvent {
  return (
    record !== null &&
    typeof record === "object" &&
    RUN_EVENT_TYPES.has(String((record as { type?: unknown }).type)) &&
    typeof (record as { runId?: unknown }).runId === "string"
  );
}

/**
 * Reads JSONL records; a line that is not JSON is a UsageError naming the line, except a cut-off last line (a run
 * that crashed while writing), which is skipped with a warning so the rest can be shown.
 */
export function readJsonlRecords(
  path: string,
  onWarning?: (message: string) => void,
  lines?: number[],
): unknown[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const why =
      code === "EISDIR"
        ? "it is a directory; give a .jsonl file"
        : code === "ENOENT"
          ? "no such file"
          : (code ?? "unreadable");
    throw new UsageError({ message: `Cannot read the trace ${path}: ${why}.` });
  }
  const events: unknown[] = [];
  const rows = text.split("\n");
  for (let index = 0; index < rows.length; index++) {
    const line = rows[index]?.trim() ?? "";
    if (line === "") continue;
    try {
      events.push(JSON.parse(line));
      lines?.push(index + 1);
    } catch {
      const last = rows.slice(index + 1).every((rest) => rest.trim() === "");
      if (last && events.length > 0) {
        onWarning?.(
          `${path}:${index + 1}: the last line is cut off (the run ended while writing it); showing the rest`,
        );
        continue;
      }
      throw new UsageError({ message: `${path}:${index + 1} is not a JSON line; is this an rlmkit trace?` });
    }
  }
  return events;
}
