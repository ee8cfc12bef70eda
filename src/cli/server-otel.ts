/**
 * `--otel [URL]` and `--otel-content` for the commands that keep running (`rlm serve`, `rlm worker`, `rlm mcp`):
 * one OpenTelemetry sink for the process's lifetime, every run's events written to it (each root run its own
 * trace). The operator turns content capture on (flag or environment), never a request. A collector that is
 * down costs its spans and one warning line on stderr, printed when the sink notices (at a run's end, or within
 * a few seconds), not only at shutdown; `close` sends what is left, bounded in time.
 */
import type { TraceEvent } from "../spec/trace-sink.ts";
import { type OtelFlagValues, openOtelSink } from "../telemetry/otel-flags.ts";
import { contentCaptureFromEnv } from "../telemetry/span-content.ts";
import { type CliIo, writeLine } from "./cli-io.ts";

/** How often a sink's failure is looked for between runs. */
const FAILURE_CHECK_MS = 5_000;

export interface ServerOtel {
  /** Takes one run event (a plain function: `onEvent: otel.write`); never throws, never waits. */
  write: (event: TraceEvent) => void;
  /** Sends what is left (at most the sink's bound, 5 s) and ends the sink. Idempotent. */
  close(): Promise<void>;
}

/**
 * The sink the flags (or OTEL_EXPORTER_OTLP_ENDPOINT alone) ask for, or undefined; one line on stderr says where
 * spans go. `log` prefixes the command's lines (`rlm serve: ...`). Flag mistakes are user errors.
 */
export async function openServerOtel(
  values: OtelFlagValues,
  io: CliIo,
  log: (line: string) => void,
  secrets: Array<string | undefined> = [],
): Promise<ServerOtel | undefined> {
  const sink = await openOtelSink(values, io.env, { secrets });
  if (sink === undefined) return undefined;
  let reported = false;
  const report = () => {
    const failure = sink.failure;
    if (reported || failure === undefined) return;
    reported = true;
    log(`warning: ${failure}`);
  };
  const timer = setInterval(report, FAILURE_CHECK_MS);
  timer.unref();
  const content = values["otel-content"] === true || contentCaptureFromEnv(io.env);
  log(`OpenTelemetry spans go to ${sink.url}${content ? " (with content)" : ""}`);
  let closing: Promise<void> | undefined;
  return {
    write: (event) => {
      sink.write(event);
      if (event.type === "run-end") report();
    },
    close() {
      closing ??= (async () => {
        clearInterval(timer);
        await sink.close();
        report();
      })();
      return closing;
    },
  };
}

/** Writes a line to stderr with the command's prefix, e.g. `rlm worker: ...`. */
export const stderrLog =
  (io: CliIo, prefix: string) =>
  (line: string): void =>
    writeLine(io.stderr, `${prefix}: ${line}`);
