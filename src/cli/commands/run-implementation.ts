/** The implementation of `rlm run`, loaded only when the command runs (see ./run-command.ts). */
import { existsSync, readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import { z } from "zod";
import { FileText } from "../../context/file-text.ts";
import { loadContext } from "../../context/load-context.ts";
import { type AuditLog, openAuditLog } from "../../engine/privacy/audit-log.ts";
import type { PrivacyOptions } from "../../engine/privacy/privacy.ts";
import { PROMPT_STYLES, type PromptStyle } from "../../engine/prompts.ts";
import type { RLMOptions, RunResult } from "../../engine/rlm.ts";
import type { RunEvent } from "../../engine/run-events.ts";
import { runResultJson } from "../../engine/run-result-json.ts";
import type { CompactionMode } from "../../engine/summary-compaction.ts";
import { UsageError } from "../../errors/usage-error.ts";
import { defaultMemoryLocation } from "../../memory/open-memory-store.ts";
import { findDefaultModel } from "../../models/default-model.ts";
import { formatModelSpec, parseModelSpec } from "../../models/model-spec.ts";
import { loadPriceTable } from "../../models/prices.ts";
import { collectSecrets } from "../../models/redact-secrets.ts";
import { DiskResponseCache } from "../../models/response-cache.ts";
import { formatCost } from "../../models/usage.ts";
import { resolveSandbox } from "../../sandboxes/resolve-sandbox.ts";
import type { StandardSchemaV1 } from "../../spec/standard-schema.ts";
import { checkStrategyName, resolveStrategy } from "../../strategies/resolve-strategy.ts";
import { fillOtelFlag, OTEL_OPTIONS, openOtelSink } from "../../telemetry/otel-flags.ts";
import type { OtelSink } from "../../telemetry/otel-sink.ts";
import { createJsonlTraceWriter, type TraceWriter } from "../../trace/jsonl-trace.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import { readToolOptions } from "../load-tools.ts";
import { fillOptionalValue, parseOptions } from "../parse-options.ts";
import { startProgress } from "../progress.ts";
import {
  LIMIT_OPTIONS,
  MEMORY_OPTIONS,
  MODEL_OPTIONS,
  memoryRunOptions,
  openRunMemory,
  type RunMemory,
  readLimitFlags,
  readModelFlags,
} from "../run-flags.ts";

/** `--schema FILE`: a JSON Schema the final answer must match (the model sees it and retries until it does). */
function readSchema(path: string): StandardSchemaV1 {
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (error) {
    throw new UsageError({
      message: `--schema ${path}: cannot read it as JSON (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`,
    });
  }
  try {
    return z.fromJSONSchema(json as Parameters<typeof z.fromJSONSchema>[0]) as unknown as StandardSchemaV1;
  } catch (error) {
    throw new UsageError({
      message: `--schema ${path}: not a JSON Schema rlmkit can use (${(error as Error).message}).`,
    });
  }
}

/** `--context-window N` (root and sub-model) or `--context-window SPEC=N`, into a table by model spec. */
function contextWindows(entries: string[], specs: string[]): Record<string, number> {
  const table: Record<string, number> = {};
  for (const entry of entries) {
    const match = /^(?:(.+)=)?(\d+)$/.exec(entry.trim());
    const tokens = match ? Number(match[2]) : Number.NaN;
    if (!match || !Number.isSafeInteger(tokens) || tokens < 1) {
      throw new UsageError({
        message: `--context-window "${entry}" must be a number of tokens (128000) or SPEC=tokens (openai-compatible:my-model=32768).`,
      });
    }
    for (const spec of match[1] === undefined ? specs : [match[1]]) table[spec] = tokens;
  }
  return table;
}

export const OPTIONS = {
  context: { type: "string", multiple: true },
  query: { type: "string" },
  "query-file": { type: "string" },
  ...MODEL_OPTIONS,
  "named-model": { type: "string", multiple: true },
  "cache-dir": { type: "string" },
  strategy: { type: "string" },
  "prompt-style": { type: "string" },
  "python-packages": { type: "string" },
  ...LIMIT_OPTIONS,
  "output-limit": { type: "string" },
  "context-window": { type: "string", multiple: true },
  schema: { type: "string" },
  "no-goal-header": { type: "boolean" },
  "no-subcall-cache": { type: "boolean" },
  trace: { type: "string" },
  verify: { type: "boolean" },
  "max-errors": { type: "string" },
  compaction: { type: "string" },
  ...MEMORY_OPTIONS,
  json: { type: "boolean" },
  tools: { type: "string" },
  "sub-tools": { type: "string" },
  "tool-timeout": { type: "string" },
  "max-tool-calls": { type: "string" },
  privacy: { type: "string" },
  "local-model": { type: "string", multiple: true },
  redact: { type: "string", multiple: true },
  audit: { type: "string" },
  ...OTEL_OPTIONS,
} as const;

async function readQuery(values: { query?: string; "query-file"?: string }): Promise<string> {
  if (values.query !== undefined && values["query-file"] !== undefined) {
    throw new UsageError({ message: "Give the question once: --query or --query-file, not both." });
  }
  if (values["query-file"] !== undefined) {
    const path = values["query-file"];
    const text = await readFile(path, "utf8").catch(() => {
      throw new UsageError({ message: `--query-file ${path}: no such file.` });
    });
    if (text.trim() === "") throw new UsageError({ message: `--query-file ${path} is empty.` });
    return text.trim();
  }
  if (values.query === undefined || values.query.trim() === "") {
    throw new UsageError({ message: "Give the question with --query <text> or --query-file <file>." });
  }
  return values.query;
}

/** Live status on a terminal: iteration, sub-calls done and in flight, tokens, cost. */
function trackProgress(io: CliIo, json: boolean) {
  const progress = startProgress(io, "starting", { json });
  let iteration = 0;
  let done = 0;
  let inFlight = 0;
  let tokens = 0;
  const cost = { costUsd: null as number | null, unpricedCalls: 0 };
  const add = (usage: { inputTokens: number; outputTokens: number; costUsd: number | null }) => {
    tokens += usage.inputTokens + usage.outputTokens;
    if (usage.costUsd === null) cost.unpricedCalls++;
    else cost.costUsd = (cost.costUsd ?? 0) + usage.costUsd;
  };
  const listener = (event: RunEvent) => {
    if (event.type === "iteration-start" && event.depth === 0) iteration = event.iteration;
    else if (event.type === "subcall-start") inFlight++;
    else if (event.type === "subcall-end") {
      inFlight--;
      done++;
      if (event.kind === "llm_query") add(event.usage);
    } else if (event.type === "iteration-end") add(event.usage);
    progress.update(
      `iteration ${iteration} · sub-calls ${done} done, ${inFlight} in flight · ${tokens.toLocaleString("en-US")} tokens · ${formatCost(cost)}`,
    );
  };
  return { listener, stop: () => progress.stop() };
}

export function printResult(result: RunResult, io: CliIo, json: boolean): void {
  if (json) {
    writeLine(io.stdout, JSON.stringify(runResultJson(result)));
    return;
  }
  const answer = result.answer ?? result.partialAnswer;
  if (answer !== undefined && answer !== null) {
    writeLine(io.stdout, typeof answer === "string" ? answer : JSON.stringify(answer, null, 2));
  }
  for (const warning of result.warnings ?? []) writeLine(io.stderr, `warning: ${warning}`);
  if (result.verification) {
    const { status, usage } = result.verification;
    const tokens = (usage.inputTokens + usage.outputTokens).toLocaleString("en-US");
    writeLine(
      io.stderr,
      `verification: ${status} · ${usage.calls} calls · ${tokens} tokens · ${formatCost({ costUsd: usage.costUsd, unpricedCalls: 0 })}`,
    );
  }
  const total = result.usage.total;
  writeLine(
    io.stderr,
    `${result.status}${result.error ? ` (${result.error})` : ""} · ${result.iterations} iterations · ${result.subcalls} sub-calls · ${(total.inputTokens + total.outputTokens).toLocaleString("en-US")} tokens · ${formatCost(total)} · ${(result.durationMs / 1000).toFixed(1)} s`,
  );
}

export type RunValues = ReturnType<typeof parseOptions<typeof OPTIONS>>["values"];

/** `--privacy local` with `--local-model`, `--redact` and `--audit`, checked; undefined without `--privacy`. */
function readPrivacy(values: RunValues, strategyName: string): PrivacyOptions | undefined {
  if (values.privacy === undefined) {
    const stray = (["local-model", "redact", "audit"] as const).find((flag) => values[flag] !== undefined);
    if (stray) throw new UsageError({ message: `--${stray} needs --privacy local.` });
    return undefined;
  }
  if (values.privacy !== "local") {
    throw new UsageError({ message: `--privacy takes "local", got "${values.privacy}".` });
  }
  if (strategyName !== "rlm") {
    throw new UsageError({ message: `--privacy local works with the rlm strategy, not ${strategyName}.` });
  }
  const localModels = (values["local-model"] ?? []).map((spec) => {
    try {
      return formatModelSpec(parseModelSpec(spec));
    } catch (error) {
      throw new UsageError({ message: `--local-model: ${(error as Error).message}` });
    }
  });
  const redact = values.redact ?? [];
  for (const pattern of redact) {
    try {
      new RegExp(pattern, "g");
    } catch (error) {
      throw new UsageError({
        message: `--redact ${JSON.stringify(pattern)} is not a valid regular expression (${(error as Error).message}).`,
      });
    }
  }
  return { mode: "local", localModels, redact };
}

/** Checks every option before anything is loaded or written, so a mistake costs nothing. */
export async function readRunOptions(values: RunValues, io: CliIo) {
  const query = await readQuery(values);
  const contextPaths = values.context ?? [];
  if (contextPaths.length === 0)
    throw new UsageError({ message: "Give the input with --context <file|dir|glob|->." });
  const { limits, sandboxLimits } = readLimitFlags(values);
  const strategyName = values.strategy ?? "rlm";
  checkStrategyName(strategyName);
  const promptStyle = (values["prompt-style"] ?? "rlmkit") as PromptStyle;
  if (!PROMPT_STYLES.includes(promptStyle)) {
    throw new UsageError({
      message: `Unknown prompt style "${promptStyle}". Styles: ${PROMPT_STYLES.join(", ")}.`,
    });
  }
  const models: Record<string, string> = {};
  for (const entry of values["named-model"] ?? []) {
    const match = /^([\w.-]+)=(.+)$/.exec(entry);
    if (!match)
      throw new UsageError({ message: `--named-model "${entry}" must look like cheap=openai:gpt-5-nano.` });
    models[match[1] as string] = match[2] as string;
  }
  const pythonPackages = values["python-packages"];
  if (pythonPackages !== undefined && !existsSync(join(pythonPackages, "pyodide-lock.json"))) {
    throw new UsageError({
      message: `--python-packages ${pythonPackages}: no pyodide-lock.json there; give a folder of Pyodide wheels with their lock file.`,
    });
  }
  const modelFlags = readModelFlags(values, io.env);
  const model = values.model ?? (await findDefaultModel(modelFlags.settings));
  const privacy = readPrivacy(values, strategyName);
  const compaction = values.compaction as CompactionMode | undefined;
  if (compaction !== undefined && compaction !== "summary" && compaction !== "trim") {
    throw new UsageError({ message: `--compaction must be summary or trim, got "${compaction}".` });
  }
  const options: RLMOptions = {
    model,
    ...(values["sub-model"] ? { subModel: values["sub-model"] } : {}),
    ...(Object.keys(models).length > 0 ? { models } : {}),
    sandbox: resolveSandbox(
      values.sandbox,
      pythonPackages ? { pythonPackages: resolve(pythonPackages) } : {},
    ),
    limits,
    ...(Object.keys(sandboxLimits).length > 0 ? { sandboxLimits } : {}),
    ...(values["context-window"]
      ? {
          contextWindows: contextWindows(values["context-window"], [
            model,
            ...(values["sub-model"] ? [values["sub-model"]] : []),
          ]),
        }
      : {}),
    ...modelFlags,
    promptStyle,
    ...(values.verify ? { verify: true } : {}),
    ...(compaction ? { compaction } : {}),
    goalHeader: values["no-goal-header"] !== true,
    subcallCache: values["no-subcall-cache"] !== true,
    ...(values.prices ? { prices: loadPriceTable(values.prices) } : {}),
    ...(values["cache-dir"] ? { responseCache: new DiskResponseCache(values["cache-dir"]) } : {}),
    ...(privacy ? { privacy } : {}),
  };
  Object.assign(options, await readToolOptions(values, strategyName, options.sandbox));
  const schema = values.schema === undefined ? undefined : readSchema(values.schema);
  return { query, contextPaths, strategyName, options, schema };
}

/** Runs `rlm run` and resolves to its exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values } = parseOptions(
    "run",
    fillOtelFlag(fillOptionalValue(args, "--memory", () => defaultMemoryLocation(io.env))),
    OPTIONS,
  );
  const { query, contextPaths, strategyName, options, schema } = await readRunOptions(values, io);
  const memory = await openRunMemory(values, io, strategyName);
  try {
    return await runWithMemory(values, io, { query, contextPaths, strategyName, options, schema }, memory);
  } finally {
    await memory?.memory.close();
  }
}

async function runWithMemory(
  values: RunValues,
  io: CliIo,
  prepared: Awaited<ReturnType<typeof readRunOptions>>,
  memory: RunMemory | undefined,
): Promise<number> {
  const { query, contextPaths, strategyName, schema } = prepared;
  const options: RLMOptions = memory
    ? { ...prepared.options, ...memoryRunOptions(memory, prepared.options) }
    : prepared.options;
  const json = values.json === true;
  let progress: ReturnType<typeof trackProgress> | undefined;
  let trace: TraceWriter | undefined;
  let otel: OtelSink | undefined;
  let audit: AuditLog | undefined;
  const strategy = resolveStrategy(strategyName, {
    ...options,
    ...(options.privacy ? { privacy: { ...options.privacy, onAudit: (entry) => audit?.write(entry) } } : {}),
    onEvent: (event) => {
      trace?.listener(event);
      otel?.write(event);
      progress?.listener(event);
    },
  });
  if (!options.sandbox?.isolated) {
    writeLine(
      io.stderr,
      `warning: the ${options.sandbox?.name} sandbox is not isolated; use it only for trusted inputs.`,
    );
  }
  const context = await loadContext(contextPaths);
  const controller = new AbortController();
  const onInterrupt = () => {
    if (controller.signal.aborted) process.exit(130);
    writeLine(io.stderr, "\ncancelling (Ctrl-C again to quit at once)...");
    controller.abort();
  };
  // SIGTERM and SIGHUP end the run as Ctrl-C does (sandboxes and sub-calls are stopped), then exit 128 + signal.
  const onTerminate = (signal: NodeJS.Signals) => {
    terminatedBy ??= signal;
    controller.abort();
  };
  let terminatedBy: NodeJS.Signals | undefined;
  process.on("SIGINT", onInterrupt);
  process.on("SIGTERM", onTerminate);
  process.on("SIGHUP", onTerminate);
  try {
    progress = trackProgress(io, json);
    if (values.audit !== undefined) audit = openAuditLog(values.audit);
    if (values.trace !== undefined) {
      trace = createJsonlTraceWriter(
        values.trace,
        collectSecrets(io.env, [values["api-key"], values["sub-api-key"]]),
      );
    }
    otel = await openOtelSink(values, io.env, {
      secrets: [values["api-key"], values["sub-api-key"]],
      privacy: options.privacy !== undefined,
    });
    const ran = await strategy.run({
      context,
      query,
      signal: controller.signal,
      ...(schema === undefined ? {} : { schema }),
    });
    progress.stop();
    // Spans go out before the answer is printed; a collector that is down costs at most the bound (5 s).
    await otel?.close();
    // A trace that could not be written costs the trace, never the answer: it becomes a warning.
    const sinkFailures = [trace?.failure, otel?.failure].filter((line) => line !== undefined);
    const result = sinkFailures.length
      ? { ...ran, warnings: [...(ran.warnings ?? []), ...sinkFailures] }
      : ran;
    printResult(result, io, json);
    if (terminatedBy !== undefined) return 128 + (terminatedBy === "SIGHUP" ? 1 : 15);
    return result.status === "completed" ? EXIT.ok : EXIT.failed;
  } finally {
    progress?.stop();
    trace?.close();
    await otel?.close();
    audit?.close();
    process.off("SIGINT", onInterrupt);
    process.off("SIGTERM", onTerminate);
    process.off("SIGHUP", onTerminate);
    if (context instanceof FileText) context.close();
  }
}
