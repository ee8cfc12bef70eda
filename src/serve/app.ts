/**
 * The OpenAI-compatible app of `rlm serve` (Hono): `/v1/models`, `/v1/chat/completions` and the jobs API
 * `/v1/runs`, with API keys and their limits, a body size cap, and every refusal in the OpenAI error shape.
 * A plain Hono app: `startServeServer` (listen.ts) puts it on a port, tests mount it the same way.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import type { JobExecutor, JobQueue } from "../spec/job-queue.ts";
import { ApiError } from "./api-error.ts";
import type { KeyRing } from "./api-keys.ts";
import { chatCompletionsRoute } from "./chat-route.ts";
import { KeyLimiter } from "./key-limits.ts";
import { BodyBudget, type BodyHold, OpenStreams } from "./request-budgets.ts";
import { RunSlots } from "./run-slots.ts";
import { createRunExecutor, modelNames, type ServeConfig } from "./run-spec.ts";
import { cancelRunRoute, getRunRoute, runEventsRoute, submitRunRoute } from "./runs-route.ts";
import { asApiError, type ServeContext, type ServeEnv } from "./serve-context.ts";
import { UsageLedger } from "./usage-ledger.ts";

/** Request bodies up to 32 MiB: a conversation or context of up to 16M characters, as JSON. */
export const MAX_BODY_BYTES = 32 * 1024 * 1024;

export const DEFAULT_MAX_CONCURRENT_RUNS = 8;

export interface ServeAppOptions {
  config: ServeConfig;
  /** Where /v1/runs jobs go (in-process, or PostgreSQL for workers). */
  jobs: JobQueue;
  /** API keys: without them the app is open (the CLI allows that only on a loopback address). */
  keys?: KeyRing;
  /** Where each key's usage is recorded (default: the folder `<keys file>.usage`). */
  ledger?: UsageLedger;
  /** Runs chat completions (default: createRunExecutor(config)); give the one the in-process queue uses. */
  executor?: JobExecutor;
  /** Run places shared with the in-process queue (default: DEFAULT_MAX_CONCURRENT_RUNS of its own). */
  slots?: RunSlots;
  /** The largest request body (default MAX_BODY_BYTES); larger ones get 413. */
  maxBodyBytes?: number;
  /**
   * Bytes of request bodies held at once (default DEFAULT_MAX_BODY_BYTES_IN_FLIGHT, 256 MiB): each request holds
   * its declared length until its reply is done; past it a request is refused with a 429.
   */
  maxBodyBytesInFlight?: number;
  /** `/v1/runs/{id}/events` streams open at once (default 1000), and per key (default 32). */
  maxEventStreams?: number;
  maxEventStreamsPerKey?: number;
  /** SSE keep-alive comments at least this often (ms, default 10,000). */
  keepAliveMs?: number;
  /** Aborts every run of the app when the server shuts down. */
  shutdown?: AbortSignal;
  /** Unexpected errors, redacted (default: stderr). */
  log?: (line: string) => void;
}

function bearerKey(header: string | undefined): string | undefined {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(header ?? "");
  return match?.[1];
}

export function createServeApp(options: ServeAppOptions): Hono<ServeEnv> {
  const { config, keys } = options;
  const ledger = options.ledger ?? (keys ? new UsageLedger(`${keys.path}.usage`) : undefined);
  const serve: ServeContext = {
    config,
    executor: options.executor ?? createRunExecutor(config),
    jobs: options.jobs,
    slots: options.slots ?? new RunSlots(DEFAULT_MAX_CONCURRENT_RUNS),
    ...(ledger ? { limiter: new KeyLimiter(ledger) } : {}),
    streams: new OpenStreams(options.maxEventStreams, options.maxEventStreamsPerKey),
    keepAliveMs: options.keepAliveMs ?? 10_000,
    shutdown: options.shutdown ?? new AbortController().signal,
    log: options.log ?? ((line) => process.stderr.write(`${line}\n`)),
  };
  const created = Math.floor(Date.now() / 1000);
  const app = new Hono<ServeEnv>();

  app.onError((error, c) => {
    const failure = asApiError(error, serve);
    return c.json(failure.body, failure.status, failure.headers);
  });
  app.notFound((c) => {
    const failure = new ApiError({
      status: 404,
      code: "unknown_url",
      message: `Unknown request URL: ${c.req.method} ${c.req.path.slice(0, 200)}.`,
    });
    return c.json(failure.body, 404);
  });

  app.use("/v1/*", async (c, next) => {
    if (keys === undefined) {
      c.set("key", undefined);
      return next();
    }
    const presented = bearerKey(c.req.header("authorization"));
    const key = presented === undefined ? undefined : keys.lookup(presented);
    if (key === undefined) {
      throw new ApiError({
        status: 401,
        code: "invalid_api_key",
        message:
          presented === undefined
            ? "You didn't provide an API key: send it as Authorization: Bearer <key>."
            : "Incorrect API key provided.",
      });
    }
    c.set("key", key);
    return next();
  });
  const maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: maxBodyBytes,
      onError: (c) => {
        const failure = new ApiError({
          status: 413,
          code: "request_too_large",
          message: `The request body is larger than ${maxBodyBytes} bytes.`,
        });
        // The rest of the body is not read: the connection closes after this reply, and says so, so a client
        // never sends its next request on a socket the server is about to drop.
        c.header("Connection", "close");
        return c.json(failure.body, 413);
      },
    }),
  );

  // After the size cap (a body declared too large is a 413 first): the bytes of all bodies held at once.
  const bodies = new BodyBudget(options.maxBodyBytesInFlight);
  app.use("/v1/*", async (c, next) => {
    let hold: BodyHold | undefined;
    try {
      hold = bodies.hold(
        c.req.header("content-length"),
        c.req.header("transfer-encoding") !== undefined,
        maxBodyBytes,
      );
    } catch (error) {
      const failure = error as ApiError;
      // The body is not read: the connection closes after this reply, as after a 413.
      c.header("Connection", "close");
      return c.json(failure.body, failure.status, failure.headers);
    }
    c.set("bodyHold", hold);
    try {
      await next();
    } finally {
      hold?.releaseUnlessKept();
    }
  });

  const model = (id: string) => ({ id, object: "model", created, owned_by: "rlmkit" });
  app.get("/v1/models", (c) => c.json({ object: "list", data: modelNames(config).map(model) }));
  app.get("/v1/models/*", (c) => {
    const raw = c.req.path.slice("/v1/models/".length);
    let id = raw;
    try {
      id = decodeURIComponent(raw);
    } catch {
      // A broken percent-escape names no model of ours: a 404 like any other unknown id.
    }
    if (!modelNames(config).includes(id)) {
      throw new ApiError({
        status: 404,
        param: "model",
        code: "model_not_found",
        message: `The model \`${id.slice(0, 200)}\` does not exist on this server.`,
      });
    }
    return c.json(model(id));
  });
  app.post("/v1/chat/completions", (c) => chatCompletionsRoute(serve, c));
  app.post("/v1/runs", (c) => submitRunRoute(serve, c));
  app.get("/v1/runs/:id", (c) => getRunRoute(serve, c));
  app.get("/v1/runs/:id/events", (c) => runEventsRoute(serve, c));
  app.delete("/v1/runs/:id", (c) => cancelRunRoute(serve, c));
  return app;
}
