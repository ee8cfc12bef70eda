/** The implementation of `rlm serve`, loaded only when the command runs (see ./serve-command.ts). */
import { existsSync } from "node:fs";
import { UsageError } from "../../errors/usage-error.ts";
import { KeyRing } from "../../serve/api-keys.ts";
import { createServeApp, DEFAULT_MAX_CONCURRENT_RUNS } from "../../serve/app.ts";
import { isLoopbackHost, type ListeningServer, startServeServer } from "../../serve/listen.ts";
import { openJobQueue } from "../../serve/open-job-queue.ts";
import { RunSlots } from "../../serve/run-slots.ts";
import type { ServeMemory } from "../../serve/run-spec.ts";
import { createRunExecutor, unpricedModel } from "../../serve/run-spec.ts";
import { urlWithoutPassword } from "../../shared/postgres-url.ts";
import { fillOtelFlag, OTEL_OPTIONS } from "../../telemetry/otel-flags.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import { nonNegativeInteger, parseOptions, positiveInteger } from "../parse-options.ts";
import {
  fillServeMemoryFlag,
  openServeMemory,
  readServeConfig,
  SERVE_MEMORY_OPTIONS,
} from "../serve-config.ts";
import { openServerOtel, stderrLog } from "../server-otel.ts";

export const OPTIONS = {
  host: { type: "string" },
  port: { type: "string" },
  model: { type: "string", multiple: true },
  "sub-model": { type: "string" },
  "base-url": { type: "string" },
  keys: { type: "string" },
  db: { type: "string" },
  "max-concurrent-runs": { type: "string" },
  prices: { type: "string" },
  ...OTEL_OPTIONS,
  ...SERVE_MEMORY_OPTIONS,
} as const;

/** Runs `rlm serve` until SIGINT or SIGTERM; resolves to its exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values } = parseOptions("serve", fillServeMemoryFlag(fillOtelFlag(args), io.env), OPTIONS);
  const host = values.host ?? "127.0.0.1";
  const port = values.port === undefined ? 8787 : nonNegativeInteger("port", values.port);
  if (port > 65_535) throw new UsageError({ message: `--port must be from 0 to 65535, got ${values.port}.` });
  if (!isLoopbackHost(host) && values.keys === undefined) {
    throw new UsageError({
      message: `--host ${host} lets other machines in: give --keys FILE (make keys with rlm keys add NAME --keys FILE), or listen on 127.0.0.1.`,
    });
  }
  const maxRuns =
    positiveInteger("max-concurrent-runs", values["max-concurrent-runs"]) ?? DEFAULT_MAX_CONCURRENT_RUNS;
  if (values.keys !== undefined && values.keys.trim() === "")
    throw new UsageError({ message: "--keys needs a file." });
  const config = await readServeConfig(values, io.env);
  const { models } = config;
  const keys = values.keys === undefined ? undefined : new KeyRing(values.keys);
  if (keys && !existsSync(keys.path)) {
    writeLine(
      io.stderr,
      `warning: ${keys.path} holds no keys yet: every request gets 401 until you run rlm keys add NAME --keys ${keys.path}.`,
    );
  }
  const budgeted = keys?.entries.some((entry) => entry.maxCostPerDay !== undefined);
  const unpriced = models.map((model) => unpricedModel(model, config)).find((spec) => spec !== undefined);
  if (budgeted && unpriced) {
    writeLine(
      io.stderr,
      `warning: some keys have a daily cost budget and the price of ${unpriced} is unknown: their requests to it get 400 until you give --prices FILE.`,
    );
  }

  // Flags are checked before the queue connects; one sink for the server's lifetime (chat completions and
  // in-process jobs; with --db, the workers export the runs they take).
  const otel = await openServerOtel(values, io, stderrLog(io, "rlm serve"));
  if (otel) config.onEvent = otel.write;
  let memory: ServeMemory | undefined;
  try {
    memory = await openServeMemory(values, io, config.settings);
    if (memory) config.memory = memory;
    const executor = createRunExecutor(config);
    const slots = new RunSlots(maxRuns);
    const jobs = await openJobQueue(values.db, { executor, slots, concurrency: maxRuns });
    const shutdown = new AbortController();
    const app = createServeApp({
      config,
      jobs,
      ...(keys ? { keys } : {}),
      executor,
      slots,
      shutdown: shutdown.signal,
      log: (line) => writeLine(io.stderr, line),
    });
    let server: ListeningServer;
    try {
      server = await startServeServer(app, { host, port });
    } catch (error) {
      await jobs.close();
      const code = (error as NodeJS.ErrnoException).code;
      throw new UsageError({
        message:
          code === "EADDRINUSE"
            ? `Port ${port} on ${host} is in use: pick another with --port.`
            : `Cannot listen on ${host}:${port} (${code ?? (error as Error).message}).`,
      });
    }
    writeLine(io.stdout, `${server.origin}/v1`);
    writeLine(
      io.stderr,
      `rlm serve: listening on ${server.origin}/v1 · models ${["rlm", ...models].join(", ")} · ${keys ? `keys from ${keys.path}` : "open (no keys)"} · runs ${values.db ? "queued in PostgreSQL" : "in this process"}, ${maxRuns} at once${memory ? ` · memory in ${urlWithoutPassword(values.memory ?? "")}` : ""}`,
    );
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once("SIGINT", () => resolve("SIGINT"));
      process.once("SIGTERM", () => resolve("SIGTERM"));
    });
    writeLine(io.stderr, `rlm serve: ${signal}, stopping (runs in flight are cancelled)...`);
    shutdown.abort();
    await server.close();
    await jobs.close();
    return EXIT.ok;
  } finally {
    await memory?.store.close();
    await otel?.close();
  }
}
