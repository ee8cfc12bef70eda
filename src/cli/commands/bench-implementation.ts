/** The implementation of `rlm bench`, loaded only when the command runs (see ./bench-command.ts). */
import { accessSync, constants, mkdirSync } from "node:fs";
import { resolve } from "node:path";
import { hasLearningCurve } from "../../bench/learning-curve.ts";
import { runBench } from "../../bench/run-bench.ts";
import { formatSize, parseSize } from "../../bench/sizes.ts";
import { SUITES } from "../../bench/suites/index.ts";
import { parseBenchStrategy } from "../../bench/task-memory.ts";
import { validateLimits } from "../../engine/run-limits.ts";
import { UsageError } from "../../errors/usage-error.ts";
import { findDefaultModel } from "../../models/default-model.ts";
import { loadPriceTable } from "../../models/prices.ts";
import { collectSecrets } from "../../models/redact-secrets.ts";
import { DiskResponseCache } from "../../models/response-cache.ts";
import { resolveSandbox } from "../../sandboxes/resolve-sandbox.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import { limitFlag, parseOptions, positiveInteger, positiveNumber } from "../parse-options.ts";
import { startProgress } from "../progress.ts";

/** A comma-separated list, each entry once. */
function list(value: string | undefined, fallback: string): string[] {
  return [
    ...new Set(
      (value ?? fallback)
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== ""),
    ),
  ];
}

/** Makes the folder of `--FLAG DIR`; one that cannot be made or written is a usage error, not a crash at the end. */
function writableFolder(flag: string, path: string): string {
  try {
    mkdirSync(path, { recursive: true });
    accessSync(path, constants.W_OK);
  } catch (error) {
    throw new UsageError({
      message: `--${flag} ${path}: cannot write there (${(error as NodeJS.ErrnoException).code ?? "error"}); give a writable folder.`,
    });
  }
  return resolve(path);
}

/** Runs `rlm bench` and resolves to its exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values } = parseOptions("bench", args, {
    suite: { type: "string" },
    sizes: { type: "string" },
    strategies: { type: "string" },
    tasks: { type: "string" },
    model: { type: "string" },
    "sub-model": { type: "string" },
    "base-url": { type: "string" },
    "api-key": { type: "string" },
    prices: { type: "string" },
    "cache-dir": { type: "string" },
    concurrency: { type: "string" },
    sandbox: { type: "string" },
    "max-iterations": { type: "string" },
    timeout: { type: "string" },
    seed: { type: "string" },
    out: { type: "string" },
    list: { type: "boolean" },
    "max-cost": { type: "string" },
    trace: { type: "string" },
    "learning-db": { type: "string" },
    json: { type: "boolean" },
  });
  if (values.list) {
    for (const suite of SUITES) writeLine(io.stdout, `${suite.name.padEnd(14)}${suite.description}`);
    return EXIT.ok;
  }
  const suites = list(values.suite, "sniah").map((name) => {
    const suite = SUITES.find((known) => known.name === name);
    if (suite === undefined) {
      throw new UsageError({
        message: `Unknown suite "${name}". Suites: ${SUITES.map((known) => known.name).join(", ")}.`,
      });
    }
    return suite;
  });
  const strategies = list(values.strategies, "rlm");
  const learning = strategies.some((name) => parseBenchStrategy(name).learning);
  if (values["learning-db"] !== undefined && !learning) {
    throw new UsageError({
      message: "--learning-db needs a +learning strategy (e.g. --strategies rlm,rlm+learning).",
    });
  }
  const sizes = list(values.sizes, "8k").map(parseSize);
  const sandbox = resolveSandbox(values.sandbox);
  if (values.out === undefined)
    throw new UsageError({ message: "Give the output directory with --out DIR." });
  // Checked before any work.
  const out = writableFolder("out", values.out);
  const traceDir = values.trace === undefined ? undefined : writableFolder("trace", values.trace);
  const tasks = positiveInteger("tasks", values.tasks) ?? 5;
  const settings = { env: io.env, baseUrl: values["base-url"], apiKey: values["api-key"] };
  const model = values.model ?? (await findDefaultModel(settings));
  const timeout = positiveNumber("timeout", values.timeout);
  const concurrency = positiveInteger("concurrency", values.concurrency);
  const maxIterations = positiveInteger("max-iterations", values["max-iterations"]);
  const maxCostUsd = positiveNumber("max-cost", values["max-cost"]);
  const limits = {
    ...(timeout === undefined ? {} : { timeoutMs: timeout * 1000 }),
    ...(concurrency === undefined ? {} : { concurrency }),
    ...(maxIterations === undefined ? {} : { maxIterations }),
    ...(maxCostUsd === undefined ? {} : { maxCostUsd }),
  };
  validateLimits({ run: limits }, limitFlag);

  // Ctrl-C once: finish the task in flight, then stop (a rerun resumes). Twice, or SIGTERM/SIGHUP: stop now.
  const controller = new AbortController();
  const stopAfterTask = new AbortController();
  const onInterrupt = () => {
    if (stopAfterTask.signal.aborted) {
      controller.abort();
      return;
    }
    writeLine(
      io.stderr,
      "\nstopping after the current task (Ctrl-C again to stop at once); run the same command again to resume",
    );
    stopAfterTask.abort();
  };
  const onTerminate = () => {
    stopAfterTask.abort();
    controller.abort();
  };
  process.on("SIGINT", onInterrupt);
  process.on("SIGTERM", onTerminate);
  process.on("SIGHUP", onTerminate);
  const progress = startProgress(io, "starting");
  // Printed when the progress line is gone.
  const warnings: string[] = [];
  try {
    const rows = await runBench({
      suites,
      sizes,
      strategies,
      tasks,
      out,
      ...(values["learning-db"] === undefined ? {} : { learningDb: values["learning-db"] }),
      seed: positiveInteger("seed", values.seed) ?? 1,
      signal: controller.signal,
      stopAfterTask: stopAfterTask.signal,
      ...(traceDir === undefined
        ? {}
        : { traces: { dir: traceDir, secrets: collectSecrets(io.env, [values["api-key"]]) } }),
      onWarning: (warning) => warnings.push(warning),
      run: {
        model,
        ...(values["sub-model"] ? { subModel: values["sub-model"] } : {}),
        settings,
        sandbox,
        limits,
        ...(values.prices ? { prices: loadPriceTable(values.prices) } : {}),
        ...(values["cache-dir"] ? { responseCache: new DiskResponseCache(values["cache-dir"]) } : {}),
      },
      onProgress: ({ done, total, current }) => {
        const width = 24;
        const filled = Math.round((done / Math.max(1, total)) * width);
        progress.update(`[${"=".repeat(filled)}${" ".repeat(width - filled)}] ${done}/${total} ${current}`);
      },
    });
    progress.stop();
    if (values.json) writeLine(io.stdout, JSON.stringify({ out, rows }));
    for (const warning of warnings) writeLine(io.stderr, `warning: ${warning}`);
    writeLine(
      io.stderr,
      `${rows.length} task runs (${suites.map((suite) => suite.name).join(", ")} at ${sizes.map(formatSize).join(", ")}) in ${out}: results.json, results.md, plot.svg${hasLearningCurve(rows) ? ", learning-curve.svg" : ""}${traceDir === undefined ? "" : `; traces in ${traceDir}`}`,
    );
    // Tasks that failed for the infrastructure count in the exit code (a rerun retries them).
    const failures = rows.filter((row) => row.status === "failed").length;
    if (failures > 0) {
      writeLine(
        io.stderr,
        `${failures} task runs failed (HTTP errors, timeouts); run the same command again to retry them`,
      );
    }
    return stopAfterTask.signal.aborted || failures > 0 ? EXIT.failed : EXIT.ok;
  } finally {
    progress.stop();
    process.off("SIGINT", onInterrupt);
    process.off("SIGTERM", onTerminate);
    process.off("SIGHUP", onTerminate);
  }
}
