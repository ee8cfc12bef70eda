/** The implementation of `rlm agent`, loaded only when the command runs (see ./agent-command.ts). */
import { readFile } from "node:fs/promises";
import { createAgent } from "../../agent/agent.ts";
import type { AgentResult } from "../../agent/agent-events.ts";
import { validateAgentLimits } from "../../agent/agent-limits.ts";
import { createAgentTools, parseToolNames } from "../../agent/agent-tools.ts";
import { loadMcpTools, type McpTools } from "../../agent/mcp/index.ts";
import type { RunEvent } from "../../engine/run-events.ts";
import { MAX_TIMER_MS } from "../../engine/run-limits.ts";
import { UsageError } from "../../errors/usage-error.ts";
import { createCaseBank } from "../../learning/case-bank.ts";
import { createMemory, type Memory } from "../../memory/memory.ts";
import { defaultMemoryLocation, openMemoryStore } from "../../memory/open-memory-store.ts";
import { findDefaultModel } from "../../models/default-model.ts";
import { asModelClient } from "../../models/model-client.ts";
import { loadPriceTable } from "../../models/prices.ts";
import { collectSecrets } from "../../models/redact-secrets.ts";
import { formatCost } from "../../models/usage.ts";
import { fillOtelFlag, OTEL_OPTIONS, openOtelSink } from "../../telemetry/otel-flags.ts";
import type { OtelSink } from "../../telemetry/otel-sink.ts";
import { createJsonlTraceWriter, type TraceWriter } from "../../trace/jsonl-trace.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import {
  fillOptionalValue,
  limitFlag,
  parseOptions,
  positiveInteger,
  positiveNumber,
} from "../parse-options.ts";
import { startProgress } from "../progress.ts";

const OPTIONS = {
  task: { type: "string" },
  "task-file": { type: "string" },
  model: { type: "string" },
  "base-url": { type: "string" },
  "api-key": { type: "string" },
  prices: { type: "string" },
  tools: { type: "string" },
  mcp: { type: "string" },
  memory: { type: "string" },
  plan: { type: "boolean" },
  verify: { type: "boolean" },
  "no-verify": { type: "boolean" },
  "max-steps": { type: "string" },
  "max-tool-calls": { type: "string" },
  "max-tokens": { type: "string" },
  "max-cost": { type: "string" },
  timeout: { type: "string" },
  "allow-private-urls": { type: "boolean" },
  trace: { type: "string" },
  ...OTEL_OPTIONS,
  json: { type: "boolean" },
} as const;

async function readTask(values: { task?: string; "task-file"?: string }): Promise<string> {
  if (values.task !== undefined && values["task-file"] !== undefined) {
    throw new UsageError({ message: "Give the task once: --task or --task-file, not both." });
  }
  if (values["task-file"] !== undefined) {
    const path = values["task-file"];
    const text = await readFile(path, "utf8").catch(() => {
      throw new UsageError({ message: `--task-file ${path}: no such file.` });
    });
    if (text.trim() === "") throw new UsageError({ message: `--task-file ${path} is empty.` });
    return text.trim();
  }
  if (values.task === undefined || values.task.trim() === "") {
    throw new UsageError({ message: "Give the task with --task <text> or --task-file <file>." });
  }
  return values.task;
}

/** Step and tool in flight on a terminal. */
function trackProgress(io: CliIo, json: boolean) {
  const progress = startProgress(io, "starting", { json });
  let step = 0;
  const inFlight = new Map<string, string>();
  let tokens = 0;
  const cost = { costUsd: null as number | null, unpricedCalls: 0 };
  const listener = (event: RunEvent) => {
    if (event.type === "iteration-start") step = event.iteration;
    else if (event.type === "tool-start") inFlight.set(event.callId, event.tool);
    else if (event.type === "tool-end") inFlight.delete(event.callId);
    else if (event.type === "iteration-end") {
      tokens += event.usage.inputTokens + event.usage.outputTokens;
      if (event.usage.costUsd === null) cost.unpricedCalls++;
      else cost.costUsd = (cost.costUsd ?? 0) + event.usage.costUsd;
    }
    const tools = [...new Set(inFlight.values())];
    progress.update(
      `step ${step}${tools.length > 0 ? ` · running ${tools.join(", ")}` : ""} · ${tokens.toLocaleString("en-US")} tokens · ${formatCost(cost)}`,
    );
  };
  return { listener, stop: () => progress.stop() };
}

function printResult(result: AgentResult, io: CliIo, json: boolean): void {
  if (json) {
    writeLine(
      io.stdout,
      JSON.stringify({
        answer: result.answer,
        status: result.status,
        stopReason: result.stopReason ?? null,
        runId: result.runId,
        steps: result.steps,
        toolCalls: result.toolCalls,
        usage: result.usage,
        verification: result.verification ?? null,
        ...(result.plan ? { plan: result.plan } : {}),
        unverified: result.unverified,
        durationMs: Math.round(result.durationMs),
        ...(result.warnings ? { warnings: result.warnings } : {}),
      }),
    );
    return;
  }
  if (result.answer !== null) writeLine(io.stdout, result.answer);
  for (const warning of result.warnings ?? []) writeLine(io.stderr, `warning: ${warning}`);
  for (const item of result.unverified) {
    writeLine(io.stderr, `unverified (ask_llm, ${item.model}): ${item.question.slice(0, 80)}`);
  }
  const verification = result.verification;
  if (verification !== undefined) {
    writeLine(
      io.stderr,
      verification.skipped
        ? `verification: not done (${verification.skipped})`
        : `verification: ${verification.status} · ${verification.checked} claims checked · ${verification.supported} supported · ${verification.unsupported} unsupported`,
    );
  }
  const total = result.usage.total;
  writeLine(
    io.stderr,
    `${result.status}${result.stopReason ? ` (${result.stopReason})` : ""} · ${result.steps} steps · ${result.toolCalls} tool calls · ${(total.inputTokens + total.outputTokens).toLocaleString("en-US")} tokens · ${formatCost(total)} · ${(result.durationMs / 1000).toFixed(1)} s`,
  );
}

/** Runs `rlm agent` and resolves to its exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values } = parseOptions(
    "agent",
    fillOtelFlag(fillOptionalValue(args, "--memory", () => defaultMemoryLocation(io.env))),
    OPTIONS,
  );
  if (values.verify && values["no-verify"]) {
    throw new UsageError({ message: "Give --verify or --no-verify, not both." });
  }
  const plan = values.plan === true;
  const verify = values["no-verify"] ? false : values.verify === true || plan;
  const task = await readTask(values);
  const toolNames = values.tools === undefined ? undefined : parseToolNames(values.tools);
  const timeout = positiveNumber("timeout", values.timeout);
  if (timeout !== undefined && timeout * 1000 > MAX_TIMER_MS) {
    throw new UsageError({
      message: `--timeout must be at most ${Math.floor(MAX_TIMER_MS / 1000)} seconds.`,
    });
  }
  const flags: Record<string, string> = { maxSteps: "--max-steps", maxToolCalls: "--max-tool-calls" };
  const limits = validateAgentLimits(
    Object.fromEntries(
      Object.entries({
        maxSteps: positiveInteger("max-steps", values["max-steps"]),
        maxToolCalls: positiveInteger("max-tool-calls", values["max-tool-calls"]),
        maxTokens: positiveInteger("max-tokens", values["max-tokens"]),
        maxCostUsd: positiveNumber("max-cost", values["max-cost"]),
        timeoutMs: timeout === undefined ? undefined : timeout * 1000,
      }).filter(([, value]) => value !== undefined),
    ),
    (field) => flags[field] ?? limitFlag(field),
  );
  const settings = { env: io.env, baseUrl: values["base-url"], apiKey: values["api-key"] };
  const model = values.model ?? (await findDefaultModel(settings));
  const prices = values.prices ? loadPriceTable(values.prices) : undefined;
  const client = asModelClient(model, { settings, ...(prices ? { prices } : {}) });
  let memory: Memory | undefined;
  let mcp: McpTools | undefined;
  const controller = new AbortController();
  try {
    if (values.memory !== undefined) {
      const store = await openMemoryStore(values.memory, {
        warn: (line) => writeLine(io.stderr, `warning: ${line}`),
      });
      memory = createMemory({ store });
    }
    const tools = createAgentTools(toolNames, {
      env: io.env,
      askModel: client,
      rlm: { model: client, ...(prices ? { prices } : {}) },
      ...(memory ? { memory } : {}),
      allowPrivateUrls: values["allow-private-urls"] === true,
    });
    if (values.mcp !== undefined) {
      mcp = await loadMcpTools(values.mcp, {
        signal: controller.signal,
        existingNames: Object.keys(tools),
        onWarning: (line) => writeLine(io.stderr, `warning: ${line}`),
      });
      Object.assign(tools, mcp.tools);
    }
    const json = values.json === true;
    const progress = trackProgress(io, json);
    let trace: TraceWriter | undefined;
    const secrets = collectSecrets(io.env, [values["api-key"]]);
    if (values.trace !== undefined) trace = createJsonlTraceWriter(values.trace, secrets);
    let otel: OtelSink | undefined;
    const agent = createAgent({
      model: client,
      tools,
      limits,
      planner: plan,
      verify,
      env: io.env,
      secrets,
      ...(memory ? { memory, learners: [createCaseBank({ memory })] } : {}),
      onEvent: (event) => {
        trace?.listener(event);
        otel?.write(event);
        progress.listener(event);
      },
    });
    const onInterrupt = () => {
      if (controller.signal.aborted) process.exit(130);
      writeLine(io.stderr, "\ncancelling (Ctrl-C again to quit at once)...");
      controller.abort();
    };
    process.on("SIGINT", onInterrupt);
    try {
      otel = await openOtelSink(values, io.env, { secrets: [values["api-key"]], agentName: "rlm-agent" });
      const ran = await agent.run({ task, signal: controller.signal });
      progress.stop();
      // Spans go out before the answer is printed; a collector that is down costs at most the bound (5 s).
      await otel?.close();
      const failures = [trace?.failure, otel?.failure].filter((line) => line !== undefined);
      const result = failures.length ? { ...ran, warnings: [...(ran.warnings ?? []), ...failures] } : ran;
      printResult(result, io, json);
      return result.status === "completed" ? EXIT.ok : EXIT.failed;
    } finally {
      progress.stop();
      trace?.close();
      await otel?.close();
      process.off("SIGINT", onInterrupt);
    }
  } finally {
    await mcp?.close();
    await memory?.close();
  }
}
