/**
 * The flags that `rlm run` (and `rlm chat`, through it) and `rlm mcp` read the same way: the models' settings and
 * model calls, the limits of each run, and `--memory [DB]` with the flags that go with it. Each reader checks its
 * flags and throws a UsageError naming the flag, so a mistake costs nothing.
 */
import type { RLMOptions } from "../engine/rlm.ts";
import { MAX_TIMER_MS, type RunLimits, validateLimits } from "../engine/run-limits.ts";
import { UsageError } from "../errors/usage-error.ts";
import { type CaseBank, createCaseBank } from "../learning/case-bank.ts";
import { createEmbedder } from "../memory/embedder.ts";
import { createMemory, type Memory } from "../memory/memory.ts";
import { openMemoryStore } from "../memory/open-memory-store.ts";
import type { ModelSettings } from "../models/model-settings.ts";
import type { SandboxLimits } from "../spec/sandbox.ts";
import { type CliIo, writeLine } from "./cli-io.ts";
import { playbookLearnerFor, readPlaybookFlags } from "./commands/run-playbook.ts";
import { limitFlag, nonNegativeInteger, positiveInteger, positiveNumber } from "./parse-options.ts";

/** The flags of the models, the sandbox and model calls, for parseOptions. */
export const MODEL_OPTIONS = {
  model: { type: "string" },
  "sub-model": { type: "string" },
  "base-url": { type: "string" },
  "api-key": { type: "string" },
  "sub-base-url": { type: "string" },
  "sub-api-key": { type: "string" },
  prices: { type: "string" },
  sandbox: { type: "string" },
  "call-timeout": { type: "string" },
  retries: { type: "string" },
} as const;

/** The flags of the limits both commands take (`rlm run` has a few more: see LimitFlagValues). */
export const LIMIT_OPTIONS = {
  "max-iterations": { type: "string" },
  "max-subcalls": { type: "string" },
  "max-depth": { type: "string" },
  "max-cost": { type: "string" },
  "max-tokens": { type: "string" },
  timeout: { type: "string" },
  concurrency: { type: "string" },
  "cell-timeout": { type: "string" },
  "cell-memory": { type: "string" },
} as const;

/** `--memory [DB]` and the flags that go with it. */
export const MEMORY_OPTIONS = {
  memory: { type: "string" },
  "memory-scope": { type: "string" },
  "memory-recall": { type: "string" },
  "embed-model": { type: "string" },
  "no-cases": { type: "boolean" },
  "playbook-budget": { type: "string" },
  "no-playbook": { type: "boolean" },
} as const;

/** `--FLAG SECONDS` as milliseconds, within what a Node timer takes (about 24 days). */
export function secondsFlag(flag: string, value: string | undefined): number | undefined {
  const parsed = positiveNumber(flag, value);
  if (parsed !== undefined && parsed * 1000 > MAX_TIMER_MS) {
    throw new UsageError({
      message: `--${flag} must be at most ${Math.floor(MAX_TIMER_MS / 1000)} seconds (about 24 days), got ${value}.`,
    });
  }
  return parsed === undefined ? undefined : parsed * 1000;
}

export interface ModelFlagValues {
  "sub-model"?: string;
  "base-url"?: string;
  "api-key"?: string;
  "sub-base-url"?: string;
  "sub-api-key"?: string;
  "call-timeout"?: string;
  retries?: string;
}

/**
 * `--base-url`, `--api-key` (the root model's), `--sub-base-url`, `--sub-api-key` (the sub-model's: they need
 * `--sub-model`), `--call-timeout SECONDS` and `--retries N`, as RLMOptions.
 */
export function readModelFlags(
  values: ModelFlagValues,
  env: CliIo["env"],
): Pick<RLMOptions, "settings" | "subModelSettings" | "callTimeoutMs" | "maxRetries"> & {
  settings: ModelSettings;
} {
  const settings = { env, baseUrl: values["base-url"], apiKey: values["api-key"] };
  const subSettings =
    values["sub-base-url"] === undefined && values["sub-api-key"] === undefined
      ? undefined
      : { baseUrl: values["sub-base-url"], apiKey: values["sub-api-key"] };
  if (subSettings !== undefined && values["sub-model"] === undefined) {
    throw new UsageError({
      message: "--sub-base-url and --sub-api-key need --sub-model: name the sub-model they belong to.",
    });
  }
  const callTimeout = secondsFlag("call-timeout", values["call-timeout"]);
  const retries = values.retries === undefined ? undefined : nonNegativeInteger("retries", values.retries);
  return {
    settings,
    ...(subSettings ? { subModelSettings: subSettings } : {}),
    ...(callTimeout === undefined ? {} : { callTimeoutMs: callTimeout }),
    ...(retries === undefined ? {} : { maxRetries: retries }),
  };
}

export interface LimitFlagValues {
  "max-iterations"?: string;
  "max-subcalls"?: string;
  "max-errors"?: string;
  "max-depth"?: string;
  "max-cost"?: string;
  "max-tokens"?: string;
  timeout?: string;
  concurrency?: string;
  "max-tool-calls"?: string;
  "cell-timeout"?: string;
  "cell-memory"?: string;
  "output-limit"?: string;
}

const defined = <T extends object>(entries: T): T =>
  Object.fromEntries(Object.entries(entries).filter(([, value]) => value !== undefined)) as T;

/**
 * The run's and the sandbox's limits from their flags (times in seconds), checked by the one limit validator.
 * `zeroSubcalls`: `--max-subcalls 0` (no sub-calls at all) is allowed (`rlm mcp`); `rlm run` wants 1 or more.
 */
export function readLimitFlags(
  values: LimitFlagValues,
  options: { zeroSubcalls?: boolean } = {},
): { limits: RunLimits; sandboxLimits: SandboxLimits } {
  const subcalls = values["max-subcalls"];
  const limits = defined<RunLimits>({
    maxIterations: positiveInteger("max-iterations", values["max-iterations"]),
    maxSubcalls:
      options.zeroSubcalls && subcalls !== undefined
        ? nonNegativeInteger("max-subcalls", subcalls)
        : positiveInteger("max-subcalls", subcalls),
    maxErrors: positiveInteger("max-errors", values["max-errors"]),
    maxDepth: positiveInteger("max-depth", values["max-depth"]),
    maxCostUsd: positiveNumber("max-cost", values["max-cost"]),
    maxTokens: positiveInteger("max-tokens", values["max-tokens"]),
    timeoutMs: secondsFlag("timeout", values.timeout),
    concurrency: positiveInteger("concurrency", values.concurrency),
    maxToolCalls:
      values["max-tool-calls"] === undefined
        ? undefined
        : nonNegativeInteger("max-tool-calls", values["max-tool-calls"]),
  });
  const sandboxLimits = defined<SandboxLimits>({
    cellTimeoutMs: secondsFlag("cell-timeout", values["cell-timeout"]),
    memoryLimitMb: positiveInteger("cell-memory", values["cell-memory"]),
    outputLimitChars: positiveInteger("output-limit", values["output-limit"]),
  });
  validateLimits({ run: limits, sandbox: sandboxLimits }, limitFlag, limitFlag);
  return { limits, sandboxLimits };
}

export interface MemoryFlagValues {
  memory?: string;
  "memory-scope"?: string;
  "memory-recall"?: string;
  "embed-model"?: string;
  "no-cases"?: boolean;
  "playbook-budget"?: string;
  "no-playbook"?: boolean;
}

/** The memory of a run, opened, and what it feeds. */
export interface RunMemory {
  memory: Memory;
  recall?: number;
  /** The case bank (on with --memory unless --no-cases). */
  caseBank?: CaseBank;
  /** The playbook's token budget (on with --memory unless --no-playbook). */
  playbookBudget?: number;
}

/**
 * `--memory [DB]` and its flags, checked now; the returned function opens the store. Undefined without
 * --memory. `strategyName`: memory works only with the rlm strategy.
 */
export function readMemoryFlags(
  values: MemoryFlagValues,
  io: CliIo,
  settings: ModelSettings,
  strategyName = "rlm",
): (() => Promise<RunMemory>) | undefined {
  const playbookBudget = readPlaybookFlags(values);
  const location = values.memory;
  if (location === undefined) {
    const stray = (["memory-scope", "memory-recall", "embed-model", "no-cases"] as const).find(
      (flag) => values[flag] !== undefined,
    );
    if (stray) throw new UsageError({ message: `--${stray} needs --memory [DB].` });
    return undefined;
  }
  if (strategyName !== "rlm") {
    throw new UsageError({ message: `--memory works with the rlm strategy, not ${strategyName}.` });
  }
  const recall =
    values["memory-recall"] === undefined
      ? undefined
      : nonNegativeInteger("memory-recall", values["memory-recall"]);
  const embedder = values["embed-model"] ? createEmbedder(values["embed-model"], { settings }) : undefined;
  return async () => {
    const store = await openMemoryStore(location, {
      warn: (line) => writeLine(io.stderr, `warning: ${line}`),
    });
    const memory = createMemory({
      store,
      ...(embedder ? { embedder } : {}),
      ...(values["memory-scope"] ? { scope: values["memory-scope"] } : {}),
    });
    const caseBank = values["no-cases"] ? undefined : createCaseBank({ memory });
    return {
      memory,
      ...(recall === undefined ? {} : { recall }),
      ...(caseBank ? { caseBank } : {}),
      ...(playbookBudget === undefined ? {} : { playbookBudget }),
    };
  };
}

/** `--memory [DB]`: the store opened (and its flags checked) before the run starts. */
export async function openRunMemory(
  values: MemoryFlagValues & { "base-url"?: string; "api-key"?: string },
  io: CliIo,
  strategyName: string,
): Promise<RunMemory | undefined> {
  const settings = { env: io.env, baseUrl: values["base-url"], apiKey: values["api-key"] };
  return readMemoryFlags(values, io, settings, strategyName)?.();
}

/** What a run's options get from its memory: the memory, its recall, and the learners (case bank, playbook). */
export function memoryRunOptions(memory: RunMemory, options: RLMOptions): Partial<RLMOptions> {
  return {
    memory: memory.memory,
    ...(memory.recall === undefined ? {} : { memoryRecall: memory.recall }),
    learners: [
      ...(options.learners ?? []),
      ...(memory.caseBank ? [memory.caseBank] : []),
      ...(memory.playbookBudget === undefined
        ? []
        : [playbookLearnerFor(memory.memory, memory.playbookBudget, options)]),
    ],
  };
}
