import { closeSync, openSync, readFileSync, writeSync } from "node:fs";
import type { RunEvent, RunEventListener } from "../engine/run-events.ts";
import { UsageError } from "../errors/usage-error.ts";
import { collectSecrets, redactSecrets } from "../models/redact-secrets.ts";
import { convertOfficialLog, isOfficialLog } from "./official-trace.ts";

/** Writes run events to a JSONL file, one event per line, with secrets redacted. */
export interface TraceWriter {
  listener: RunEventListener;
  close(): void;
}

export function createJsonlTraceWriter(path: string, secrets: string[] = collectSecrets()): TraceWriter {
  let fd: number;
  try {
    fd = openSync(path, "w");
  } catch (error) {
    throw new UsageError({
      message: `Cannot write the trace ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}. Give a path in an existing, writable folder.`,
    });
  }
  let open = true;
  return {
    listener(event) {
      if (open) writeSync(fd, `${redactSecrets(JSON.stringify(event), secrets)}\n`);
    },
    close() {
      if (!open) return;
      open = false;
      closeSync(fd);
    },
  };
}

/** Reads a trace: rlmkit's own, or an official RLM log converted on the fly. */
export function readJsonlTrace(path: string): RunEvent[] {
  const records = readJsonlRecords(path);
  return isOfficialLog(records) ? convertOfficialLog(records) : (records as RunEvent[]);
}

/** Reads JSONL records; a line that is not JSON is a UsageError naming the line. */
export function readJsonlRecords(path: string): unknown[] {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch {
    throw new UsageError({ message: `Cannot read the trace ${path}: no such file.` });
  }
  const events: unknown[] = [];
  const lines = text.split("\n");
  for (let index = 0; index < lines.length; index++) {
    const line = lines[index]?.trim() ?? "";
    if (line === "") continue;
    try {
      events.push(JSON.parse(line));
    } catch {
      throw new UsageError({ message: `${path}:${index + 1} is not a JSON line; is this an rlmkit trace?` });
    }
  }
  return events;
}
