/** The implementation of `rlm mcp`, loaded only when the command runs (see ./mcp-command.ts). */
import { randomBytes } from "node:crypto";
import { accessSync, constants, mkdirSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { createRLM, type RLMOptions } from "../../engine/rlm.ts";
import { UsageError } from "../../errors/usage-error.ts";
import { startMcpHttpServer, tokenProblem } from "../../mcp-server/http-server.ts";
import { createRlmMcpServer } from "../../mcp-server/mcp-server.ts";
import { MAX_CONTEXT_CHARS } from "../../mcp-server/rlm-run-tool.ts";
import { RunService } from "../../mcp-server/run-service.ts";
import { defaultMemoryLocation } from "../../memory/open-memory-store.ts";
import { findDefaultModel } from "../../models/default-model.ts";
import { loadPriceTable } from "../../models/prices.ts";
import { collectSecrets, redactSecrets } from "../../models/redact-secrets.ts";
import { resolveSandbox } from "../../sandboxes/resolve-sandbox.ts";
import { fillOtelFlag, OTEL_OPTIONS } from "../../telemetry/otel-flags.ts";
import type { CliIo } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import {
  fillOptionalValue,
  nonNegativeInteger,
  parseOptions,
  positiveInteger,
  positiveNumber,
} from "../parse-options.ts";
import {
  LIMIT_OPTIONS,
  MEMORY_OPTIONS,
  MODEL_OPTIONS,
  memoryRunOptions,
  readLimitFlags,
  readMemoryFlags,
  readModelFlags,
} from "../run-flags.ts";
import { openServerOtel, stderrLog } from "../server-otel.ts";

const OPTIONS = {
  ...MODEL_OPTIONS,
  ...LIMIT_OPTIONS,
  http: { type: "string" },
  "http-token": { type: "string" },
  host: { type: "string" },
  root: { type: "string" },
  "max-input-mb": { type: "string" },
  "max-concurrent-runs": { type: "string" },
  "max-waiting-runs": { type: "string" },
  "trace-dir": { type: "string" },
  ...MEMORY_OPTIONS,
  ...OTEL_OPTIONS,
} as const;

type McpValues = ReturnType<typeof parseOptions<typeof OPTIONS>>["values"];

/** A run's wall time when the server is given none: a server never runs a call without a time limit. */
const DEFAULT_TIMEOUT_SECONDS = 600;
/** The largest message read over stdio or HTTP: a context of MAX_CONTEXT_CHARS with room for its JSON. */
const MAX_MESSAGE_BYTES = 2 * MAX_CONTEXT_CHARS;

/** How the HTTP server's token was chosen, for the line that says what to send (a given token is not printed). */
type TokenSource = "flag" | "env" | "generated";

interface Listen {
  host: string;
  port: number;
  token: string;
  tokenFrom: TokenSource;
}

/**
 * `--http PORT`, `--host HOST` and the bearer token (`--http-token`, else RLM_MCP_TOKEN, else 32 random bytes):
 * a loopback address only, since the token would cross a network in clear over plain HTTP.
 */
function readListen(values: McpValues, env: CliIo["env"]): Listen | undefined {
  if (values.http === undefined) {
    if (values.host !== undefined) throw new UsageError({ message: "--host needs --http PORT." });
    if (values["http-token"] !== undefined) {
      throw new UsageError({ message: "--http-token needs --http PORT (over stdio there is no token)." });
    }
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
      message: `--host ${host}: rlm mcp speaks plain HTTP (its token would cross the network in clear), so it listens only on loopback (127.0.0.1, ::1, localhost); put a TLS proxy in front to reach it from other machines.`,
    });
  }
  return { host, port, ...readToken(values["http-token"], env.RLM_MCP_TOKEN) };
}

/** The bearer token: the flag's, the environment's, or a fresh random one; a given one must be long enough. */
function readToken(
  flag: string | undefined,
  fromEnv: string | undefined,
): { token: string; tokenFrom: TokenSource } {
  const given = flag !== undefined ? { token: flag, name: "--http-token" } : undefined;
  const chosen = given ?? (fromEnv ? { token: fromEnv, name: "RLM_MCP_TOKEN" } : undefined);
  if (chosen === undefined) return { token: randomBytes(32).toString("base64url"), tokenFrom: "generated" };
  const problem = tokenProblem(chosen.token);
  if (problem !== undefined) {
    // The value itself is never echoed: it is a secret, even a bad one.
    throw new UsageError({
      message: `${chosen.name}: the token ${problem}; make one with \`openssl rand -base64 32\`, or leave it out for a random one.`,
    });
  }
  return { token: chosen.token, tokenFrom: given ? "flag" : "env" };
}

/** The line that says where to connect and what to send: a generated token is shown, a given one only named. */
function listeningLine(url: string, listen: Listen): string {
  const token =
    listen.tokenFrom === "generated"
      ? listen.token
      : listen.tokenFrom === "env"
        ? "<the token in RLM_MCP_TOKEN>"
        : "<the token given to --http-token>";
  return `listening on ${url} (send Authorization: Bearer ${token})`;
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
    mkdirSync(folder, { recursive: true, mode: 0o700 });
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
  const { limits, sandboxLimits } = readLimitFlags(values, { zeroSubcalls: true });
  limits.timeoutMs ??= DEFAULT_TIMEOUT_SECONDS * 1000;
  const modelFlags = readModelFlags(values, io.env);
  const options: RLMOptions = {
    model: values.model ?? (await findDefaultModel(modelFlags.settings)),
    ...(values["sub-model"] ? { subModel: values["sub-model"] } : {}),
    sandbox: resolveSandbox(values.sandbox),
    limits,
    ...(Object.keys(sandboxLimits).length > 0 ? { sandboxLimits } : {}),
    ...modelFlags,
    ...(values.prices ? { prices: loadPriceTable(values.prices) } : {}),
  };
  createRLM(options);
  return options;
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
    fillOtelFlag(fillOptionalValue(args, "--memory", () => defaultMemoryLocation(io.env))),
    OPTIONS,
  );
  const listen = readListen(values, io.env);
  const root = readRoot(values.root);
  const maxInputMb = positiveNumber("max-input-mb", values["max-input-mb"]) ?? 64;
  const maxConcurrentRuns = positiveInteger("max-concurrent-runs", values["max-concurrent-runs"]) ?? 2;
  const maxWaitingRuns =
    values["max-waiting-runs"] === undefined
      ? 16
      : nonNegativeInteger("max-waiting-runs", values["max-waiting-runs"]);
  const rlm = await readRlmOptions(values, io);
  const openMemory = readMemoryFlags(values, io, rlm.settings ?? { env: io.env });
  const log = stderrLog(io, "rlm mcp");
  // One sink for the server's lifetime: every run of every client is exported.
  // The HTTP token is a secret like the API keys: redacted from spans, logs, traces and errors sent to clients.
  const extraSecrets = [values["api-key"], values["sub-api-key"], listen?.token];
  const otel = await openServerOtel(values, io, log, extraSecrets);
  try {
    // Folders and files are made only once every flag has been checked.
    const traceDir = readTraceDir(values["trace-dir"]);
    if (!rlm.sandbox?.isolated) {
      log(
        `warning: the ${rlm.sandbox?.name} sandbox is not isolated; use it only with clients and inputs you trust.`,
      );
    }
    const opened = await openMemory?.();
    const memoryOptions = opened ? memoryRunOptions(opened, rlm) : {};
    const secrets = collectSecrets(io.env, extraSecrets);
    const service = new RunService({
      rlm: { ...rlm, ...memoryOptions, ...(otel ? { onEvent: otel.write } : {}) },
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
          host: listen.host,
          port: listen.port,
          token: listen.token,
          createServer,
          maxBodyBytes: MAX_MESSAGE_BYTES,
          log,
        }).catch((error: NodeJS.ErrnoException) => {
          throw new UsageError({
            message: `--http ${listen.port}: cannot listen on ${listen.host} (${error.code ?? error.message}).`,
          });
        });
        if (listen.tokenFrom === "flag") {
          log(
            "warning: --http-token is visible to other users of this machine in the process list; prefer RLM_MCP_TOKEN.",
          );
        }
        log(listeningLine(http.url, listen));
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
  } finally {
    await otel?.close();
  }
}
