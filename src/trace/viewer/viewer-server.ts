import { randomBytes, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import { basename } from "node:path";
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { UsageError } from "../../errors/usage-error.ts";
import { LiveModel } from "./live-model.ts";
import { TraceFollower } from "./trace-follower.ts";
import { renderViewerPage, viewerContentSecurityPolicy } from "./viewer-page.ts";

export interface TraceViewerOptions {
  /** The trace file to serve and follow. */
  path: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  onWarning?: (message: string) => void;
}

export interface TraceViewer {
  /** The page's address; its path holds a secret, so another user of the machine cannot read the trace. */
  url: string;
  close(): Promise<void>;
}

/** Pages that follow the trace at once; more are refused (each holds a connection and gets every patch). */
const MAX_CLIENTS = 32;
/** The least time between two rebuilds of the model; a rebuild that took long spaces the next ones more. */
const MIN_REBUILD_GAP_MS = 200;

/**
 * `rlm trace view`: serves the viewer page on 127.0.0.1 and streams the model's changes (server-sent events) as
 * the trace file grows. Requests must name this server as their Host, so a web page elsewhere cannot read the
 * trace through a name that resolves to 127.0.0.1 (DNS rebinding), and their path must start with a random
 * secret (the URL printed): 127.0.0.1 is open to every user of the machine, and a trace holds prompts and data.
 * The page and the stream's messages are made once per version of the model, however many viewers ask.
 */
export async function startTraceViewer(options: TraceViewerOptions): Promise<TraceViewer> {
  let live: LiveModel | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastBuild = 0;
  let dirty: boolean | undefined;
  const rebuild = () => {
    timer = undefined;
    if (live === undefined || dirty === undefined) return;
    const reset = dirty;
    dirty = undefined;
    lastBuild = performance.now();
    try {
      live.update(follower.events, reset);
    } catch (error) {
      // A trace the model cannot be built from must not end the server (this runs in a timer).
      options.onWarning?.(`the trace could not be shown: ${(error as Error).message}`);
    }
  };
  const follower = new TraceFollower(options.path, {
    onChange(reset) {
      dirty = (dirty ?? false) || reset;
      if (timer) return;
      const gap = Math.max(MIN_REBUILD_GAP_MS, 4 * (live?.buildMs ?? 0));
      timer = setTimeout(rebuild, Math.max(0, lastBuild + gap - performance.now()));
    },
    ...(options.onWarning ? { onWarning: options.onWarning } : {}),
  });
  follower.start();
  live = new LiveModel(follower.events, basename(options.path));
  const model = live;

  let closing = false;
  let clients = 0;
  let port = 0;
  const secret = randomBytes(18).toString("base64url");
  const expected = Buffer.from(secret);
  let page = { version: -1, html: "" };
  const app = new Hono();
  app.use("*", async (c, next) => {
    const host = c.req.header("host");
    if (host !== `127.0.0.1:${port}` && host !== `localhost:${port}`) return c.text("Forbidden host", 403);
    const given = Buffer.from(c.req.path.split("/")[1] ?? "");
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      return c.text("Not found: open the address rlm trace view printed (its path holds a secret).", 404);
    }
    await next();
    c.header("X-Content-Type-Options", "nosniff");
    c.header("Cache-Control", "no-store");
  });
  app.get(`/${secret}/`, (c) => {
    c.header("Content-Security-Policy", viewerContentSecurityPolicy(true));
    c.header("Referrer-Policy", "no-referrer");
    if (page.version !== model.version) {
      page = {
        version: model.version,
        html: renderViewerPage(model.model, { live: true, version: model.version }),
      };
    }
    return c.html(page.html);
  });
  app.get(`/${secret}/events`, (c) => {
    if (clients >= MAX_CLIENTS) return c.text("Too many viewers of this trace", 503);
    const since = Number(c.req.query("since"));
    return streamSSE(c, async (stream) => {
      clients++;
      let sent = Number.isSafeInteger(since) ? since : -1;
      const aborted = new Promise<void>((resolve) => stream.onAbort(resolve));
      try {
        while (!closing && !stream.aborted) {
          if (sent !== model.version) {
            const version = model.version;
            const patch = model.patch;
            if (patch !== undefined && patch.base === sent) {
              await stream.writeSSE({ event: "patch", data: model.patchMessage() as string });
            } else {
              await stream.writeSSE({ event: "model", data: model.modelMessage() });
            }
            sent = version;
          }
          await Promise.race([model.changed(), aborted]);
        }
      } finally {
        clients--;
      }
    });
  });

  const server = await new Promise<ReturnType<typeof serve>>((resolve, reject) => {
    const made = serve({ fetch: app.fetch, port: options.port ?? 0, hostname: "127.0.0.1" }, () =>
      resolve(made),
    );
    made.once("error", (error: NodeJS.ErrnoException) => {
      follower.close();
      reject(
        error.code === "EADDRINUSE"
          ? new UsageError({
              message: `Port ${options.port} is in use; choose another --port (0 picks a free one).`,
            })
          : error.code === "EACCES"
            ? new UsageError({
                message: `Port ${options.port} needs privileges; choose a port above 1023 or 0.`,
              })
            : error,
      );
    });
  });
  port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/${secret}/`,
    close: async () => {
      closing = true;
      clearTimeout(timer);
      follower.close();
      model.release();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        if ("closeAllConnections" in server) server.closeAllConnections();
      });
    },
  };
}
