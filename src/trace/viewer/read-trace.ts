import { statSync } from "node:fs";
import type { RunEvent } from "../../engine/run-events.ts";
import { UsageError } from "../../errors/usage-error.ts";
import { readJsonlTrace } from "../jsonl-trace.ts";
import { wellFormedEvents } from "./event-shape.ts";
import { MAX_TRACE_BYTES } from "./trace-follower.ts";

/**
 * Reads a trace for `rlm trace html` as `rlm trace show` does (official RLM logs converted), refusing what the
 * page cannot hold: a file over MAX_TRACE_BYTES, one that is not a regular file, or one without a single run
 * event.
 */
export function readTraceForViewer(path: string, onWarning: (message: string) => void): RunEvent[] {
  let size = 0;
  try {
    const stat = statSync(path);
    size = stat.size;
    // A FIFO would block the read for ever, /dev/zero (through a link) would fill the memory.
    if (!stat.isFile() && !stat.isDirectory()) {
      throw new UsageError({ message: `Cannot read the trace ${path}: it is not a regular file.` });
    }
  } catch (error) {
    if (error instanceof UsageError) throw error;
    // readJsonlTrace names the problem (no such file)
  }
  if (size > MAX_TRACE_BYTES) {
    throw new UsageError({
      message: `${path} is larger than ${MAX_TRACE_BYTES / 1024 / 1024} MiB, more than the viewer reads; show a smaller trace.`,
    });
  }
  const events = wellFormedEvents(readJsonlTrace(path, onWarning), onWarning);
  if (events.length === 0)
    throw new UsageError({ message: `${path} holds no run events; is it a trace of rlm run --trace?` });
  return events;
}
