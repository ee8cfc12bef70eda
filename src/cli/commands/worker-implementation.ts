/** The implementation of `rlm worker`, loaded only when the command runs (see ./worker-command.ts). */
import { UsageError } from "../../errors/usage-error.ts";
import type { JobReport } from "../../jobs/job-worker.ts";
import { collectSecrets, redactSecrets } from "../../models/redact-secrets.ts";
import { isPostgresUrl, urlWithoutPassword } from "../../shared/postgres-url.ts";
import { fillOtelFlag, OTEL_OPTIONS } from "../../telemetry/otel-flags.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import { parseOptions, positiveInteger, positiveNumber } from "../parse-options.ts";
import {
  fillServeMemoryFlag,
  openServeMemory,
  readServeConfig,
  SERVE_MEMORY_OPTIONS,
} from "../serve-config.ts";
import { openServerOtel, stderrLog } from "../server-otel.ts";

const OPTIONS = {
  db: { type: "string" },
  model: { type: "string", multiple: true },
  "sub-model": { type: "string" },
  "base-url": { type: "string" },
  "max-concurrent-runs": { type: "string" },
  prices: { type: "string" },
  "poll-interval": { type: "string" },
  ...OTEL_OPTIONS,
  ...SERVE_MEMORY_OPTIONS,
} as const;

const DEFAULT_CONCURRENCY = 2;
/** Running runs get this long to finish after the first Ctrl-C or SIGTERM. */
const GRACE_MS = 10_000;
/** The same error line is printed at most this often (a database that is down fails every poll). */
const REPEAT_ERROR_MS = 30_000;

const usage = (message: string) => new UsageError({ message: `${message} Run \`rlm worker --help\`.` });

/** Prints each distinct line at most once per REPEAT_ERROR_MS, without secrets. */
function errorPrinter(io: CliIo): (error: Error) => void {
  const secrets = collectSecrets(io.env);
  const printed = new Map<string, number>();
  return (error) => {
    const line = redactSecrets(`rlm worker: ${String(error?.message ?? error).split("\n", 1)[0]}`, secrets);
    const last = printed.get(line);
    if (last !== undefined && Date.now() - last < REPEAT_ERROR_MS) return;
    if (printed.size > 100) printed.clear();
    printed.set(line, Date.now());
    writeLine(io.stderr, line);
  };
}

function reportLine({ id, attempt, outcome, seconds }: JobReport): string {
  return `rlm worker: run ${id} ${outcome} (attempt ${attempt}, ${seconds.toFixed(1)} s)`;
}

/** Runs `rlm worker` until SIGINT or SIGTERM; resolves to its exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values } = parseOptions("worker", fillServeMemoryFlag(fillOtelFlag(args), io.env), OPTIONS);
  const db = values.db;
  if (db === undefined)
    throw usage("--db postgres://... is required: the database rlm serve --db queues runs in.");
  if (!isPostgresUrl(db)) {
    throw new UsageError({
      message: `--db takes a PostgreSQL URL such as postgres://HOST:5432/DB (user and password as USER:PASSWORD@ before the host), got "${urlWithoutPassword(db)}": workers take runs from the database rlm serve --db queues them in.`,
    });
  }
  const models = values.model ?? [];
  if (models.length === 0) throw usage("--model SPEC is required: give the models rlm serve offers.");
  const concurrency =
    positiveInteger("max-concurrent-runs", values["max-concurrent-runs"]) ?? DEFAULT_CONCURRENCY;
  const pollingIntervalSeconds = positiveNumber("poll-interval", values["poll-interval"]);
  if (pollingIntervalSeconds !== undefined && pollingIntervalSeconds < 0.5) {
    throw new UsageError({
      message: `--poll-interval must be 0.5 seconds or more, got "${values["poll-interval"]}".`,
    });
  }
  const config = await readServeConfig(values, io.env);
  // One sink for the worker's lifetime: every run it takes is exported.
  const otel = await openServerOtel(values, io, stderrLog(io, "rlm worker"));
  if (otel) config.onEvent = otel.write;
  const memory = await openServeMemory(values, io, config.settings).catch(async (error: unknown) => {
    await otel?.close();
    throw error;
  });
  if (memory) config.memory = memory;

  const { createRunExecutor } = await import("../../serve/run-spec.ts");
  const { startJobWorker } = await import("../../jobs/job-worker.ts");
  const worker = await startJobWorker({
    url: db,
    executor: createRunExecutor(config),
    concurrency,
    ...(pollingIntervalSeconds === undefined ? {} : { pollingIntervalSeconds }),
    onError: errorPrinter(io),
    onJobEnd: (report) => writeLine(io.stderr, reportLine(report)),
  }).catch(async (error: unknown) => {
    await memory?.store.close();
    await otel?.close();
    throw error;
  });
  writeLine(
    io.stderr,
    `rlm worker ${worker.name}: taking runs from ${urlWithoutPassword(db)} · models ${models.join(", ")} · ${concurrency} at once`,
  );

  const first = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGINT", () => resolve("SIGINT"));
    process.once("SIGTERM", () => resolve("SIGTERM"));
  });
  writeLine(
    io.stderr,
    `rlm worker: ${first}, taking no more runs; ${worker.running} running get ${GRACE_MS / 1000} s to finish, then go back to the queue (again to send them back now)`,
  );
  const again = () => void worker.stop({ graceMs: 0 });
  process.on("SIGINT", again);
  process.on("SIGTERM", again);
  try {
    await worker.stop({ graceMs: GRACE_MS });
  } finally {
    process.off("SIGINT", again);
    process.off("SIGTERM", again);
    await memory?.store.close();
    await otel?.close();
  }
  writeLine(io.stderr, "rlm worker: stopped");
  return EXIT.ok;
}
