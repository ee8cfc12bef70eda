/**
 * A run as JSON, and the one way such a run is executed: what `rlm serve` hands to its job queue, what travels
 * through PostgreSQL to `rlm worker`, and what the worker runs.
 *
 * STABLE (the jobs helper and `rlm worker` depend on it; change only by adding optional fields):
 * - `RunSpec` (version 1) and `RunDocument`: plain JSON, nothing live.
 * - `ServeConfig`: what a server or worker is configured with; a worker builds the same object from its flags.
 * - `parseRunSpec(body, config)`: a chat-completion body (plus the optional `context` of /v1/runs) -> RunSpec,
 *   or a thrown `ApiError` (OpenAI-shaped, status 400 naming the field in `param`, or 404 for an unknown model).
 * - `createRunExecutor(config)`: a JobExecutor (src/spec/job-queue.ts) that checks a stored RunSpec again, runs
 *   it with the configured models under the job's signal, emits every run event (secrets redacted, as traces
 *   are), and resolves to what `rlm run --json` prints (`RunResultJson`, `answer` included).
 * - `modelNames(config)`: the names `GET /v1/models` lists (`rlm`, then `rlm:<spec>` per configured model).
 */

import type { RLMOptions } from "../engine/rlm.ts";
import type { RunEvent } from "../engine/run-events.ts";
import { type RunLimits, validateLimits } from "../engine/run-limits.ts";
import { type RunResultJson, runResultJson } from "../engine/run-result-json.ts";
import { UsageError } from "../errors/usage-error.ts";
import { createCaseBank } from "../learning/case-bank.ts";
import type { Embedder } from "../memory/embedder.ts";
import { createMemory } from "../memory/memory.ts";
import type { ModelSettings } from "../models/model-settings.ts";
import { parseModelSpec } from "../models/model-spec.ts";
import { DEFAULT_PRICES, findPrice, type PriceTable } from "../models/prices.ts";
import { collectSecrets, redactSecrets } from "../models/redact-secrets.ts";
import { resolveSandbox, SANDBOX_NAMES } from "../sandboxes/resolve-sandbox.ts";
import type { JobExecutor } from "../spec/job-queue.ts";
import type { MemoryStore } from "../spec/memory-store.ts";
import type { Sandbox, SandboxLimits } from "../spec/sandbox.ts";
import { resolveStrategy } from "../strategies/resolve-strategy.ts";
import { STRATEGY_NAMES, type StrategyName } from "../strategies/strategy-names.ts";
import { ApiError, badRequest } from "./api-error.ts";
import { conversationContext, type RunDocument } from "./chat-context.ts";

export type { RunDocument } from "./chat-context.ts";

/** One run, as JSON. */
export interface RunSpec {
  version: 1;
  /** The model name the client asked for (`rlm` or `rlm:<spec>`), echoed as a reply's `model`. */
  modelName: string;
  /** The root model's spec (`openai:gpt-5-mini`). */
  model: string;
  /** What the root model is asked; the conversation itself is in `documents`. */
  query: string;
  /** The context: attached text or files first, then one document per message. */
  documents: RunDocument[];
  strategy: StrategyName;
  /** A sandbox name of SANDBOX_NAMES. */
  sandbox: string;
  /** The limits the run gets: the server's defaults with the request's own on top (never above the server's maxima). */
  limits: RunLimits;
  sandboxLimits?: SandboxLimits;
  /**
   * The memory scope of the run when the server has a memory: `key:<name>` for a request made with an API key,
   * so one key's runs never recall another's. Set by the server from the key, never by the request.
   */
  memoryScope?: string;
}

/** A memory for the runs (`rlm serve --memory`, `rlm worker --memory`): recall, episodes and the case bank. */
export interface ServeMemory {
  store: MemoryStore;
  embedder?: Embedder;
  /** Items recalled into each run's prompt (the engine's default when not given). */
  recall?: number;
  /** Record each run as a case and show similar ones (default true). */
  cases?: boolean;
}

export interface ServeConfig {
  /** Root models offered, as specs; the first is the one `rlm` names. At least one. */
  models: string[];
  /** The model llm_query calls (default: the root model). */
  subModel?: string;
  /** Base URL, key and environment for the model specs (they belong to the first model; see settingsForModel). */
  settings?: ModelSettings;
  prices?: PriceTable;
  /** The sandbox of a request that names none (default isolated-vm). */
  sandbox?: string;
  /** The sandboxes a request may name (default: all of SANDBOX_NAMES). */
  sandboxes?: string[];
  /** The strategy of a request that names none (default rlm). */
  strategy?: StrategyName;
  /** Limits of every run unless the request gives its own (default DEFAULT_SERVE_LIMITS). */
  limits?: RunLimits;
  /** The most a request may ask for, per limit (default DEFAULT_MAX_LIMITS). */
  maxLimits?: RunLimits;
  /** The most a request may ask for, per sandbox limit (default DEFAULT_MAX_SANDBOX_LIMITS). */
  maxSandboxLimits?: SandboxLimits;
  /** Time one attempt of a model call may take, in ms. */
  callTimeoutMs?: number;
  /** Retries of a model call after the first attempt. */
  maxRetries?: number;
  /** For the Python sandbox: a folder of Pyodide packages it may load. */
  pythonPackages?: string;
  /** Values redacted from events and errors besides the environment's secrets and the API key. */
  secrets?: string[];
  /** A durable memory for runs of the rlm strategy, one scope per API key (RunSpec.memoryScope). */
  memory?: ServeMemory;
  /**
   * Every event of every run, as emitted (a redacted JSON copy), e.g. an OpenTelemetry sink's `write`
   * (`rlm serve --otel`, `rlm worker --otel`). Must not throw or wait.
   */
  onEvent?: (event: RunEvent) => void;
}

/** Every run of the server has a time limit: 10 minutes unless the request or the server says otherwise. */
export const DEFAULT_SERVE_LIMITS: RunLimits = { timeoutMs: 600_000 };

/** What a request may ask for at most, unless the server's configuration says otherwise. */
export const DEFAULT_MAX_LIMITS: RunLimits = {
  timeoutMs: 3_600_000,
  maxIterations: 200,
  maxDepth: 4,
  concurrency: 32,
};

/**
 * The sandbox limits a request may ask for at most: a cell's memory, time and output are the server's to spend
 * (a guest given a terabyte of memory would take the whole process down), so no more than the sandboxes'
 * defaults for memory and wall time, and a few times their defaults for CPU time and output.
 */
export const DEFAULT_MAX_SANDBOX_LIMITS: SandboxLimits = {
  memoryLimitMb: 1_024,
  cellTimeoutMs: 300_000,
  cellWallTimeoutMs: 3_600_000,
  outputLimitChars: 200_000,
};

/** The first limit of `asked` above its maximum in `maxima`, as [field, maximum]. */
function overMaximum(asked: object, maxima: object): [string, number] | undefined {
  for (const [field, value] of Object.entries(asked)) {
    const most = Object.hasOwn(maxima, field) ? (maxima as Record<string, unknown>)[field] : undefined;
    if (typeof most === "number" && typeof value === "number" && value > most) return [field, most];
  }
  return undefined;
}

/** The names `GET /v1/models` lists: `rlm` (the first model), then `rlm:<spec>` for each configured model. */
export function modelNames(config: ServeConfig): string[] {
  const specs = [...new Set([...config.models, ...(config.subModel ? [config.subModel] : [])])];
  return ["rlm", ...specs.map((spec) => `rlm:${spec}`)];
}

/** The spec a model name stands for, or undefined when the server does not offer it. */
export function modelSpecOf(name: string, config: ServeConfig): string | undefined {
  if (name === "rlm") return config.models[0];
  if (!name.startsWith("rlm:")) return undefined;
  const spec = name.slice("rlm:".length);
  return modelNames(config).includes(name) ? spec : undefined;
}

/** Fields of the OpenAI body that do not change an RLM run; accepted and not used. */
const IGNORED_FIELDS = new Set([
  "temperature",
  "top_p",
  "user",
  "metadata",
  "store",
  "seed",
  "service_tier",
  "reasoning_effort",
  "presence_penalty",
  "frequency_penalty",
  "logit_bias",
  "parallel_tool_calls",
  "safety_identifier",
  "prompt_cache_key",
  "verbosity",
  "stop",
  "max_tokens",
  "max_completion_tokens",
  "top_logprobs",
]);

/** Fields rlm serve reads, or accepts only with a value that asks for nothing it lacks. */
const CHECKED_FIELDS = new Set([
  "model",
  "messages",
  "stream",
  "stream_options",
  "rlm",
  "context",
  "n",
  "tools",
  "tool_choice",
  "logprobs",
  "response_format",
  "modalities",
]);

function checkOpenAiFields(body: Record<string, unknown>): void {
  for (const field of Object.keys(body)) {
    if (!IGNORED_FIELDS.has(field) && !CHECKED_FIELDS.has(field)) {
      throw badRequest(field, `Unrecognized request argument supplied: ${field}.`, "unknown_parameter");
    }
  }
  const unsupported = (param: string, what: string) =>
    badRequest(param, `${param}: ${what} is not supported by rlm serve.`, "unsupported_parameter");
  if (body.n !== undefined && body.n !== null && body.n !== 1) throw unsupported("n", "more than one choice");
  if (Array.isArray(body.tools) ? body.tools.length > 0 : body.tools !== undefined && body.tools !== null) {
    throw unsupported("tools", "calling the client's tools");
  }
  if (body.tool_choice !== undefined && body.tool_choice !== null && body.tool_choice !== "none") {
    if (body.tool_choice !== "auto") throw unsupported("tool_choice", "a tool choice other than none");
  }
  if (body.logprobs !== undefined && body.logprobs !== null && body.logprobs !== false) {
    throw unsupported("logprobs", "log probabilities");
  }
  const format = body.response_format as { type?: unknown } | undefined | null;
  if (format !== undefined && format !== null && format.type !== "text") {
    throw unsupported("response_format", "a response format other than text");
  }
  const modalities = body.modalities;
  if (
    modalities !== undefined &&
    modalities !== null &&
    !(Array.isArray(modalities) && modalities.every((modality) => modality === "text"))
  ) {
    throw unsupported("modalities", "an output other than text");
  }
  if (body.stream !== undefined && body.stream !== null && typeof body.stream !== "boolean") {
    throw badRequest("stream", "stream must be true or false.");
  }
  const options = body.stream_options;
  if (options !== undefined && options !== null) {
    if (typeof options !== "object" || Array.isArray(options)) {
      throw badRequest("stream_options", "stream_options must be an object.");
    }
    const { include_usage: includeUsage } = options as { include_usage?: unknown };
    if (includeUsage !== undefined && typeof includeUsage !== "boolean") {
      throw badRequest("stream_options.include_usage", "stream_options.include_usage must be true or false.");
    }
  }
}

const RLM_FIELDS = ["limits", "sandboxLimits", "sandbox", "strategy"] as const;

/** One limit checked alone, so the error names its field. */
function checkLimit(group: "limits" | "sandboxLimits", field: string, value: unknown): void {
  try {
    const label = (name: string) => `rlm.${group}.${name}`;
    validateLimits(
      group === "limits" ? { run: { [field]: value } } : { sandbox: { [field]: value } },
      label,
      label,
    );
  } catch (error) {
    if (UsageError.isInstance(error)) throw badRequest(`rlm.${group}.${field}`, error.message);
    throw error;
  }
}

function limitGroup(value: unknown, group: "limits" | "sandboxLimits"): Record<string, number> {
  if (value === undefined || value === null) return {};
  if (typeof value !== "object" || Array.isArray(value)) {
    throw badRequest(`rlm.${group}`, `rlm.${group} must be an object of limits.`);
  }
  for (const [field, limit] of Object.entries(value)) checkLimit(group, field, limit);
  return value as Record<string, number>;
}

function hasPrice(spec: string, config: ServeConfig): boolean {
  try {
    const { provider, modelId } = parseModelSpec(spec);
    return findPrice({ ...DEFAULT_PRICES, ...config.prices }, provider, modelId) !== undefined;
  } catch {
    return false;
  }
}

/** The first model a run of `model` uses (itself, then the sub-model) whose price is unknown here, if any. */
export function unpricedModel(model: string, config: ServeConfig): string | undefined {
  return [model, ...(config.subModel ? [config.subModel] : [])].find((spec) => !hasPrice(spec, config));
}

/** The `rlm` object of a body: limits (within the server's maxima), sandbox, strategy. */
function rlmOptions(
  value: unknown,
  config: ServeConfig,
  model: string,
): Pick<RunSpec, "limits" | "sandbox" | "strategy" | "sandboxLimits"> {
  if (value !== undefined && value !== null && (typeof value !== "object" || Array.isArray(value))) {
    throw badRequest(
      "rlm",
      "rlm must be an object of rlmkit options (limits, sandboxLimits, sandbox, strategy).",
    );
  }
  const options = (value ?? {}) as Record<string, unknown>;
  for (const field of Object.keys(options)) {
    if (!(RLM_FIELDS as readonly string[]).includes(field)) {
      throw badRequest(
        `rlm.${field}`,
        `rlm.${field} is not an rlmkit option; the options are ${RLM_FIELDS.join(", ")}.`,
        "unknown_parameter",
      );
    }
  }
  const asked = limitGroup(options.limits, "limits");
  const over = overMaximum(asked, config.maxLimits ?? DEFAULT_MAX_LIMITS);
  if (over) {
    throw badRequest(
      `rlm.limits.${over[0]}`,
      `rlm.limits.${over[0]} may be at most ${over[1]} on this server.`,
    );
  }
  if (asked.maxCostUsd !== undefined) {
    const unpriced = unpricedModel(model, config);
    if (unpriced !== undefined) {
      throw badRequest(
        "rlm.limits.maxCostUsd",
        `rlm.limits.maxCostUsd needs the price of every model, and this server does not know the price of ${unpriced}; use rlm.limits.maxTokens.`,
      );
    }
  }
  const sandboxLimits = limitGroup(options.sandboxLimits, "sandboxLimits");
  const overSandbox = overMaximum(sandboxLimits, config.maxSandboxLimits ?? DEFAULT_MAX_SANDBOX_LIMITS);
  if (overSandbox) {
    const [field, most] = overSandbox;
    throw badRequest(
      `rlm.sandboxLimits.${field}`,
      `rlm.sandboxLimits.${field} may be at most ${most} on this server.`,
    );
  }
  const sandboxes = config.sandboxes ?? SANDBOX_NAMES;
  const sandbox = options.sandbox ?? config.sandbox ?? "isolated-vm";
  if (typeof sandbox !== "string" || !sandboxes.includes(sandbox)) {
    throw badRequest("rlm.sandbox", `rlm.sandbox must be one of ${sandboxes.join(", ")}.`);
  }
  const strategy = options.strategy ?? config.strategy ?? "rlm";
  if (typeof strategy !== "string" || !(STRATEGY_NAMES as readonly string[]).includes(strategy)) {
    throw badRequest("rlm.strategy", `rlm.strategy must be one of ${STRATEGY_NAMES.join(", ")}.`);
  }
  return {
    limits: { ...DEFAULT_SERVE_LIMITS, ...config.limits, ...asked },
    sandbox,
    strategy: strategy as StrategyName,
    ...(Object.keys(sandboxLimits).length > 0 ? { sandboxLimits } : {}),
  };
}

/**
 * A chat-completion body (and /v1/runs' `context`) as a RunSpec. Throws an ApiError: 400 naming the field
 * (`param`) for a bad body, 404 for a model the server does not offer.
 */
export function parseRunSpec(body: unknown, config: ServeConfig): RunSpec {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw badRequest(null, "The request body must be a JSON object.");
  }
  const fields = body as Record<string, unknown>;
  checkOpenAiFields(fields);
  if (typeof fields.model !== "string" || fields.model === "") {
    throw badRequest("model", "model is required: rlm, or rlm:<spec> as GET /v1/models lists them.");
  }
  const model = modelSpecOf(fields.model, config);
  if (model === undefined) {
    throw new ApiError({
      status: 404,
      param: "model",
      code: "model_not_found",
      message: `The model \`${fields.model.slice(0, 200)}\` does not exist on this server; it offers ${modelNames(config).join(", ")}.`,
    });
  }
  const { documents, query } = conversationContext(fields.messages, fields.context);
  return {
    version: 1,
    modelName: fields.model,
    model,
    query,
    documents,
    ...rlmOptions(fields.rlm, config, model),
  };
}

/**
 * A RunSpec read back from storage, checked again (a worker trusts nothing it reads): its shape, a model this
 * process offers, known strategy and sandbox, valid limits within the maxima a request is held to. Throws an
 * Error saying what is wrong.
 */
export function checkRunSpec(value: unknown, config: ServeConfig): RunSpec {
  const spec = value as Partial<RunSpec> | null;
  const fail = (what: string) => new Error(`not a run this worker can do: ${what}`);
  if (typeof spec !== "object" || spec === null || spec.version !== 1) throw fail("no RunSpec of version 1");
  if (typeof spec.model !== "string" || !modelNames(config).includes(`rlm:${spec.model}`)) {
    throw fail(`the model ${String(spec.model).slice(0, 200)} is not configured here`);
  }
  if (typeof spec.query !== "string") throw fail("no query");
  if (
    !Array.isArray(spec.documents) ||
    !spec.documents.every((document) => typeof document?.id === "string" && typeof document.text === "string")
  ) {
    throw fail("documents must be a list of {id, text}");
  }
  if (!(STRATEGY_NAMES as readonly string[]).includes(spec.strategy as string))
    throw fail("unknown strategy");
  if (!(config.sandboxes ?? SANDBOX_NAMES).includes(spec.sandbox as string)) throw fail("unknown sandbox");
  if (
    spec.memoryScope !== undefined &&
    (typeof spec.memoryScope !== "string" || spec.memoryScope.length === 0 || spec.memoryScope.length > 300)
  ) {
    throw fail("memoryScope must be a short string");
  }
  try {
    validateLimits({ run: spec.limits ?? {}, sandbox: spec.sandboxLimits });
  } catch (error) {
    throw fail((error as Error).message);
  }
  // The maxima a request is held to (the server's own defaults may be above them).
  const runMaxima: Record<string, number | undefined> = { ...(config.maxLimits ?? DEFAULT_MAX_LIMITS) };
  for (const [field, value] of Object.entries(config.limits ?? {})) {
    const most = runMaxima[field];
    if (most !== undefined && typeof value === "number") runMaxima[field] = Math.max(most, value);
  }
  const over =
    overMaximum(spec.limits ?? {}, runMaxima) ??
    overMaximum(spec.sandboxLimits ?? {}, config.maxSandboxLimits ?? DEFAULT_MAX_SANDBOX_LIMITS);
  if (over) throw fail(`${over[0]} may be at most ${over[1]} here`);
  return spec as RunSpec;
}

/** A run's memory options: the server's store seen through the run's scope, recall, and the case bank. */
function memoryOptions(serveMemory: ServeMemory, scope: string | undefined): Partial<RLMOptions> {
  const memory = createMemory({
    store: serveMemory.store,
    ...(serveMemory.embedder ? { embedder: serveMemory.embedder } : {}),
    ...(scope ? { scope } : {}),
  });
  return {
    memory,
    ...(serveMemory.recall === undefined ? {} : { memoryRecall: serveMemory.recall }),
    ...(serveMemory.cases === false ? {} : { learners: [createCaseBank({ memory })] }),
  };
}

/** The memory scope of a key's runs: its name, so keys never share memories. */
export function memoryScopeOfKey(name: string): string {
  return `key:${name}`;
}

/** An event as a trace stores it: a JSON copy with every secret (and a URL's credentials) replaced. */
function redactedEvent(event: RunEvent, secrets: readonly string[]): unknown {
  return JSON.parse(redactSecrets(JSON.stringify(event), secrets));
}

/**
 * Runs one RunSpec (a job's spec) with the configured models: the job's signal cancels it, each run event is
 * emitted redacted, and it resolves to what `rlm run --json` prints. A run that ends badly (a limit, a failed
 * model) still resolves, with its status; only a spec this process cannot run, or a model it cannot set up
 * (a missing key), throws.
 */
export function createRunExecutor(config: ServeConfig): JobExecutor {
  if (config.models.length === 0) throw new Error("ServeConfig.models needs at least one model spec");
  const secrets = collectSecrets(config.settings?.env ?? process.env, [
    config.settings?.apiKey,
    ...(config.secrets ?? []),
  ]);
  // One sandbox per name for the process: the Python one keeps a warm pool of interpreters.
  const sandboxes = new Map<string, Sandbox>();
  const sandboxOf = (name: string) => {
    let sandbox = sandboxes.get(name);
    if (sandbox === undefined) {
      sandbox = resolveSandbox(name, config.pythonPackages ? { pythonPackages: config.pythonPackages } : {});
      sandboxes.set(name, sandbox);
    }
    return sandbox;
  };
  return async (value, { signal, emit }): Promise<RunResultJson> => {
    const spec = checkRunSpec(value, config);
    const strategy = resolveStrategy(spec.strategy, {
      ...(config.memory && spec.strategy === "rlm" ? memoryOptions(config.memory, spec.memoryScope) : {}),
      model: spec.model,
      ...(config.subModel ? { subModel: config.subModel } : {}),
      sandbox: sandboxOf(spec.sandbox),
      limits: spec.limits,
      ...(spec.sandboxLimits ? { sandboxLimits: spec.sandboxLimits } : {}),
      ...(config.settings ? { settings: config.settings } : {}),
      ...(config.prices ? { prices: config.prices } : {}),
      ...(config.callTimeoutMs === undefined ? {} : { callTimeoutMs: config.callTimeoutMs }),
      ...(config.maxRetries === undefined ? {} : { maxRetries: config.maxRetries }),
      onEvent: (event) => {
        const copy = redactedEvent(event, secrets);
        emit(copy);
        config.onEvent?.(copy as RunEvent);
      },
    });
    const result = runResultJson(await strategy.run({ context: spec.documents, query: spec.query, signal }));
    // The answer is the user's; what the server adds (errors, warnings) is redacted.
    return {
      ...result,
      ...(result.error === undefined ? {} : { error: redactSecrets(result.error, secrets) }),
      ...(result.warnings ? { warnings: result.warnings.map((line) => redactSecrets(line, secrets)) } : {}),
    };
  };
}
