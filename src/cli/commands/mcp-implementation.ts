/** The implementation of `rlm mcp`, loaded only when the command runs (see ./mcp-command.ts). */
import { accessSync, constants, mkdirSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createRLM, type RLMOptions } from "../../engine/rlm.ts";
import { MAX_TIMER_MS, validateLimits } from "../../engine/run-limits.ts";
import { UsageError } from "../../errors/usage-error.ts";
import { createCaseBank } from "../../learning/case-bank.ts";
import { startMcpHttpServer } from "../../mcp-server/http-server.ts";
import { createRlmMcpServer } from "../../mcp-server/mcp-server.ts";
import { MAX_CONTEXT_CHARS } from "../../mcp-server/rlm-run-tool.ts";
import { RunService } from "../../mcp-server/run-service.ts";
import { createEmbedder } from "../../memory/embedder.ts";
import { createMemory, type Memory } from "../../memory/memory.ts";
import { defaultMemoryLocation, openMemoryStore } from "../../memory/open-memory-store.ts";
import { findDefaultModel } from "../../models/default-model.ts";
import { loadPriceTable } from "../../models/prices.ts";
import { collectSecrets, redactSecrets } from "../../models/redact-secrets.ts";
import { resolveSandbox } from "../../sandboxes/resolve-sandbox.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import {
  fillOptionalValue,
  limitFlag,
  nonNegativeInteger,
  parseOptions,
  positiveInteger,
  positiveNumber,
} from "../parse-options.ts";
import { playbookLearnerFor, readPlaybookFlags } from "./run-playbook.ts";

const OPTIONS = {
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
  "max-iterations": { type: "string" },
  "max-subcalls": { type: "string" },
  "max-depth": { type: "string" },
  "max-cost": { type: "string" },
  "max-tokens": { type: "string" },
  timeout: { type: "string" },
  concurrency: { type: "string" },
  "cell-timeout": { type: "string" },
  "cell-memory": { type: "string" },
  http: { type: "string" },
  host: { type: "string" },
  root: { type: "string" },
  "max-input-mb": { type: "string" },
  "max-concurrent-runs": { type: "string" },
  "max-waiting-runs": { type: "string" },
  "trace-dir": { type: "string" },
  memory: { type: "string" },
  "memory-scope": { type: "string" },
  "memory-recall": { type: "string" },
  "embed-model": { type: "string" },
  "no-cases": { type: "boolean" },
  "playbook-budget": { type: "string" },
  "no-playbook": { type: "boolean" },
} as const;

type McpValues = ReturnType<typeof parseOptions<typeof OPTIONS>>["values"];

/** A run's wall time when the server is given none: a server never runs a call without a time limit. */
const DEFAULT_TIMEOUT_SECONDS = 600;
/** The largest message read over stdio or HTTP: a context of MAX_CONTEXT_CHARS with room for its JSON. */
const MAX_MESSAGE_BYTES = 2 * MAX_CONTEXT_CHARS;

/** Seconds as milliseconds, within what a Node timer takes. */
function seconds(flag: string, value: string | undefined): number | undefined {
  const parsed = positiveNumber(flag, value);
  if (parsed !== undefined && parsed * 1000 > MAX_TIMER_MS) {
    throw new UsageError({
      message: `--${flag} must be at most ${Math.floor(MAX_TIMER_MS / 1000)} seconds.`,
    });
  }
  return parsed === undefined ? undefined : parsed * 1000;
}

/** `--http PORT` and `--host HOST`: a loopback address only, since nothing here authenticates a client. */
function readListen(values: McpValues): { host: string; port: number } | undefined {
  if (values.http === undefined) {
    if (values.host !== undefined) throw new UsageError({ message: "--host needs --http PORT." });
    return undefined;
  }
  const port = Number(values.http);
  if (!Number.isInteger(port) || port < 0 || port > 65_535) {
    throw new UsageError({
      message: `--http must be a port number from 0 (any free port) to 65535, got "${values.http}".`,
    });
  }
  const host = values.host ?? "127.0.0.1";
  if (!(host === "localhost" || host === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(host))) {
    throw new UsageError({
      message: `--host ${host}: rlm mcp has no authentication, so it listens only on loopback (127.0.0.1, ::1, localhost); put an authenticating proxy in front to reach it from other machines.`,
    });
  }
  return { host, port };
}

/** An existing folder, as an absolute path. */
function readRoot(value: string | undefined): string {
  const root = resolve(value ?? process.cwd());
  if (!statSync(root, { throwIfNoEntry: false })?.isDirectory()) {
    throw new UsageError({ message: `--root ${value}: no such folder.` });
  }
  return root;
}

/** `--trace-dir DIR`: created when missing, and writable. */
function readTraceDir(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const folder = resolve(value);
  try {
    mkdirSync(folder, { recursive: true });
    accessSync(folder, constants.W_OK);
  } catch (error) {
    throw new UsageError({
      message: `--trace-dir ${value}: cannot write there (${(error as NodeJS.ErrnoException).code ?? "error"}); give a writable folder.`,
    });
  }
  return folder;
}

/** The models, sandbox and the server's limits of every run, checked (a model that cannot resolve fails here). */
async function readRlmOptions(values: McpValues, io: CliIo): Promise<RLMOptions> {
  const limits = Object.fromEntries(
    Object.entries({
      maxIterations: positiveInteger("max-iterations", values["max-iterations"]),
      maxSubcalls:
        values["max-subcalls"] === undefined
          ? undefined
          : nonNegativeInteger("max-subcalls", values["max-subcalls"]),
      maxDepth: positiveInteger("max-depth", values["max-depth"]),
      maxCostUsd: positiveNumber("max-cost", values["max-cost"]),
      maxTokens: positiveInteger("max-tokens", values["max-tokens"]),
      timeoutMs: seconds("timeout", values.timeout) ?? DEFAULT_TIMEOUT_SECONDS * 1000,
      concurrency: positiveInteger("concurrency", values.concurrency),
    }).filter(([, value]) => value !== undefined),
  );
  const cellTimeout = seconds("cell-timeout", values["cell-timeout"]);
  const sandboxLimits = Object.fromEntries(
    Object.entries({
      cellTimeoutMs: cellTimeout,
      memoryLimitMb: positiveInteger("cell-memory", values["cell-memory"]),
    }).filter(([, value]) => value !== undefined),
  );
  validateLimits({ run: limits, sandbox: sandboxLimits }, limitFlag, limitFlag);
  const settings = { env: io.env, baseUrl: values["base-url"], apiKey: values["api-key"] };
  const subSettings =
    values["sub-base-url"] === undefined && values["sub-api-key"] === undefined
      ? undefined
      : { baseUrl: values["sub-base-url"], apiKey: values["sub-api-key"] };
  if (subSettings !== undefined && values["sub-model"] === undefined) {
    throw new UsageError({
      message: "--sub-base-url and --sub-api-key need --sub-model: name the sub-model they belong to.",
    });
  }
  const callTimeout = seconds("call-timeout", values["call-timeout"]);
  const retries = values.retries === undefined ? undefined : nonNegativeInteger("retries", values.retries);
  const options: RLMOptions = {
    model: values.model ?? (await findDefaultModel(settings)),
    ...(values["sub-model"] ? { subModel: values["sub-model"] } : {}),
    sandbox: resolveSandbox(values.sandbox),
    limits,
    ...(Object.keys(sandboxLimits).length > 0 ? { sandboxLimits } : {}),
    settings,
    ...(subSettings ? { subModelSettings: subSettings } : {}),
    ...(callTimeout === undefined ? {} : { callTimeoutMs: callTimeout }),
    ...(retries === undefined ? {} : { maxRetries: retries }),
    ...(values.prices ? { prices: loadPriceTable(values.prices) } : {}),
  };
  createRLM(options);
  return options;
}

/**
 * `--memory [DB]` and its flags, checked now; the returned function opens the memory (and the recall and learners
 * it feeds: case bank, playbook). Undefined without --memory.
 */
function readMemoryFlags(
  values: McpValues,
  io: CliIo,
  rlm: RLMOptions,
): (() => Promise<{ memory: Memory; options: Partial<RLMOptions> }>) | undefined {
  const playbookBudget = readPlaybookFlags(values);
  const location = values.memory;
  if (location === undefined) {
    const stray = (["memory-scope", "memory-recall", "embed-model", "no-cases"] as const).find(
      (flag) => values[flag] !== undefined,
    );
    if (stray) throw new UsageError({ message: `--${stray} needs --memory [DB].` });
    return undefined;
  }
  const recall =
    values["memory-recall"] === undefined
      ? undefined
      : nonNegativeInteger("memory-recall", values["memory-recall"]);
  const embedder = values["embed-model"]
    ? createEmbedder(values["embed-model"], { settings: rlm.settings ?? {} })
    : undefined;
  return async () => {
    const store = await openMemoryStore(location, {
      warn: (line) => writeLine(io.stderr, `warning: ${line}`),
    });
    const memory = createMemory({
      store,
      ...(embedder ? { embedder } : {}),
      ...(values["memory-scope"] ? { scope: values["memory-scope"] } : {}),
    });
    return {
      memory,
      options: {
        memory,
        ...(recall === undefined ? {} : { memoryRecall: recall }),
        learners: [
          ...(values["no-cases"] ? [] : [createCaseBank({ memory })]),
          ...(playbookBudget === undefined ? [] : [playbookLearnerFor(memory, playbookBudget, rlm)]),
        ],
      },
    };
  };
}

/** Resolves when the process is asked to stop (Ctrl-C, SIGTERM, SIGHUP) or `also` resolves. */
function stopRequested(also: Promise<void>[] = []): { stopped: Promise<void>; dispose(): void } {
  let done: () => void = () => undefined;
  const stopped = new Promise<void>((resolve) => {
    done = resolve;
  });
  const signals = ["SIGINT", "SIGTERM", "SIGHUP"] as const;
  for (const signal of signals) process.on(signal, done);
  for (const promise of also) void promise.then(done);
  return {
    stopped,
    dispose: () => {
      for (const signal of signals) process.off(signal, done);
    },
  };
}

/** Runs `rlm mcp` until the client goes away (stdio) or the process is stopped; resolves to the exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values } = parseOptions(
    "mcp",
    fillOptionalValue(args, "--memory", () => defaultMemoryLocation(io.env)),
    OPTIONS,
  );
  const listen = readListen(values);
  const root = readRoot(values.root);
  const maxInputMb = positiveNumber("max-input-mb", values["max-input-mb"]) ?? 64;
  const maxConcurrentRuns = positiveInteger("max-concurrent-runs", values["max-concurrent-runs"]) ?? 2;
  const maxWaitingRuns =
    values["max-waiting-runs"] === undefined
      ? 16
      : nonNegativeInteger("max-waiting-runs", values["max-waiting-runs"]);
  const rlm = await readRlmOptions(values, io);
  const openMemory = readMemoryFlags(values, io, rlm);
  // Folders and files are made only once every flag has been checked.
  const traceDir = readTraceDir(values["trace-dir"]);
  const log = (line: string) => writeLine(io.stderr, `rlm mcp: ${line}`);
  if (!rlm.sandbox?.isolated) {
    log(
      `warning: the ${rlm.sandbox?.name} sandbox is not isolated; use it only with clients and inputs you trust.`,
    );
  }
  const opened = await openMemory?.();
  const secrets = collectSecrets(io.env, [values["api-key"], values["sub-api-key"]]);
  const service = new RunService({
    rlm: { ...rlm, ...opened?.options },
    root,
    maxInputBytes: Math.floor(maxInputMb * 2 ** 20),
    maxConcurrentRuns,
    maxWaitingRuns,
    ...(traceDir ? { traceDir } : {}),
    secrets,
    log,
  });
  const createServer = () =>
    createRlmMcpServer({
      service,
      ...(opened ? { memory: opened.memory } : {}),
      redact: (text) => redactSecrets(text, secrets),
    });
  try {
    if (listen) {
      const http = await startMcpHttpServer({
        ...listen,
        createServer,
        maxBodyBytes: MAX_MESSAGE_BYTES,
        log,
      }).catch((error: NodeJS.ErrnoException) => {
        throw new UsageError({
          message: `--http ${listen.port}: cannot listen on ${listen.host} (${error.code ?? error.message}).`,
        });
      });
      log(`listening on ${http.url}`);
      const stop = stopRequested();
      await stop.stopped;
      stop.dispose();
      await http.close();
    } else {
      // Over stdio, stdout is the protocol's: a stray console.log from anything loaded would corrupt it.
      console.log = console.info = console.debug = console.error;
      const server = createServer();
      const transport = new StdioServerTransport(process.stdin, io.stdout as NodeJS.WriteStream, {
        maxBufferSize: MAX_MESSAGE_BYTES,
      });
      const closed = new Promise<void>((resolve) => {
        transport.onclose = () => resolve();
      });
      const ended = new Promise<void>((resolve) => {
        process.stdin.once("end", () => resolve());
      });
      const stop = stopRequested([closed, ended]);
      await server.connect(transport);
      log("serving over stdio");
      await stop.stopped;
      stop.dispose();
      await server.close();
    }
  } finally {
    await service.close();
    await opened?.memory.close();
  }
  return EXIT.ok;
}
