/**
 * A private tracer provider that sends spans to an OTLP/HTTP collector (JSON bodies, POST {endpoint}/v1/traces).
 * It is never registered as the global provider: a library must not take over the application's tracing. Export
 * failures are caught per provider (not through OpenTelemetry's global error handler) so the sink can report
 * them as one warning, and every wait on the collector is bounded.
 */
import { connect } from "node:net";
import type { Tracer } from "@opentelemetry/api";
import { OTLPTraceExporter } from "@opentelemetry/exporter-trace-otlp-http";
import {
  defaultResource,
  detectResources,
  envDetector,
  resourceFromAttributes,
} from "@opentelemetry/resources";
import { BatchSpanProcessor, type SpanExporter, TracerProvider } from "@opentelemetry/sdk-trace";
import { ATTR_SERVICE_NAME, ATTR_SERVICE_VERSION } from "@opentelemetry/semantic-conventions";
import { ConfigError } from "../errors/config-error.ts";
import { VERSION } from "../version.ts";

/** `ExportResultCode.SUCCESS` of @opentelemetry/core (a dependency of the SDK, not of ours). */
const EXPORT_SUCCESS = 0;
/** Spans held for export at most; past it the SDK drops spans (a slow collector under a very large run). */
const MAX_QUEUE = 8192;

export interface OtlpExporterOptions {
  /** The collector's traces URL (…/v1/traces). */
  url: string;
  /** Extra request headers (OTEL_EXPORTER_OTLP_HEADERS is read by the exporter itself as well). */
  headers?: Record<string, string>;
  /** Longest wait on the collector: one export with its retries, and a flush. */
  timeoutMs: number;
  /** Called once per failed export, with one line (no header, no response body). */
  onFailure(reason: string): void;
}

export interface OtlpExport {
  tracer: Tracer;
  /** Sends what has ended so far; resolves false when the collector did not take it within the bound. */
  flush(): Promise<boolean>;
  /** Sends what is left and stops; resolves false when that took longer than the bound. */
  shutdown(): Promise<boolean>;
}

/** The URL a sink sends to: `--otel URL` or the OTLP environment variables, as the OTel spec reads them. */
export function resolveOtlpTracesUrl(
  explicit: string | undefined,
  env: Record<string, string | undefined>,
): string | undefined {
  const specific = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim();
  const general = env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  const [given, where, append] =
    explicit !== undefined
      ? [explicit.trim(), "--otel", true]
      : specific
        ? [specific, "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", false]
        : general
          ? [general, "OTEL_EXPORTER_OTLP_ENDPOINT", true]
          : [undefined, "", false];
  if (given === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(given);
  } catch {
    throw new ConfigError({
      message: `${where}: "${given}" is not a URL; give the collector's OTLP/HTTP address, e.g. http://127.0.0.1:4318.`,
    });
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") {
    throw new ConfigError({
      message: `${where}: ${url.protocol} is not supported; the OTLP exporter speaks http:// or https:// (port 4318, not gRPC's 4317).`,
    });
  }
  // A base address gets the traces path, as OTEL_EXPORTER_OTLP_ENDPOINT does; a full one is kept.
  if (append && !url.pathname.endsWith("/v1/traces")) {
    url.pathname = `${url.pathname.replace(/\/+$/, "")}/v1/traces`;
  }
  return url.toString();
}

/** The URL as it may be printed: no user, password or query (they may hold a token). */
export function printableUrl(url: string): string {
  try {
    const parsed = new URL(url);
    return `${parsed.origin}${parsed.pathname}`;
  } catch {
    return "the collector";
  }
}

/** One line for a failed export: the error's code or HTTP status, never its response body. */
function failureReason(error: unknown): string {
  if (error === undefined || error === null) return "the export failed";
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === "number") return `HTTP ${code}`;
  if (typeof code === "string") return code;
  return typeof message === "string" && message !== ""
    ? (message.split("\n")[0]?.slice(0, 200) ?? "")
    : "error";
}

/**
 * Passes spans on to the real exporter and reports each failed export. A collector that is not there at all
 * (connection refused, no such host) is found by a quick connect first: the exporter would retry such errors
 * until its bound, and its retry timers would keep a finished `rlm run` alive for seconds.
 */
function watched(exporter: SpanExporter, url: string, onFailure: (reason: string) => void): SpanExporter {
  return {
    export(spans, done) {
      void unreachable(url, PROBE_MS).then((code) => {
        if (code !== undefined) {
          onFailure(code);
          done({ code: 1, error: new Error(code) });
          return;
        }
        try {
          exporter.export(spans, (result) => {
            if (result.code !== EXPORT_SUCCESS) onFailure(failureReason(result.error));
            done(result);
          });
        } catch (error) {
          onFailure(failureReason(error));
          done({ code: 1, error: error as Error });
        }
      });
    },
    shutdown: () => exporter.shutdown(),
    forceFlush: () => exporter.forceFlush?.() ?? Promise.resolve(),
  };
}

/** How long the check for a collector that is not there waits for a connection. */
const PROBE_MS = 500;

/** Resolves true when `work` succeeds within `ms`, false when it fails or takes longer (it goes on, unwatched). */
async function within(work: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
    timer.unref();
  });
  try {
    return await Promise.race([
      work.then(
        () => true,
        () => false,
      ),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** Network errors that say at once no collector is there (the exporter would retry them until its bound). */
const UNREACHABLE = new Set(["ECONNREFUSED", "EHOSTUNREACH", "ENETUNREACH", "ENOTFOUND", "EAI_AGAIN"]);

/**
 * The error code when nothing listens at the collector's address (a quick TCP connect, at most `ms`), else
 * undefined (it is there, or it is slow: then the exporter's own bound applies).
 */
function unreachable(url: string, ms: number): Promise<string | undefined> {
  let target: URL;
  try {
    target = new URL(url);
  } catch {
    return Promise.resolve(undefined);
  }
  const port = Number(target.port || (target.protocol === "https:" ? 443 : 80));
  const host = target.hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve) => {
    const socket = connect({ host, port });
    const done = (code: string | undefined) => {
      clearTimeout(timer);
      socket.destroy();
      resolve(code);
    };
    const timer = setTimeout(() => done(undefined), ms);
    timer.unref();
    socket.once("connect", () => done(undefined));
    socket.once("error", (error: NodeJS.ErrnoException) =>
      done(error.code && UNREACHABLE.has(error.code) ? error.code : undefined),
    );
  });
}

export function createOtlpExport(options: OtlpExporterOptions): OtlpExport {
  const exporter = new OTLPTraceExporter({
    url: options.url,
    ...(options.headers ? { headers: options.headers } : {}),
    // Retries stop within the bound, so nothing is left pending (and holding the process) after a flush gives up.
    timeoutMillis: options.timeoutMs,
  });
  const provider = new TracerProvider({
    // The SDK's telemetry.sdk.* attributes, then ours; OTEL_SERVICE_NAME and OTEL_RESOURCE_ATTRIBUTES win.
    resource: defaultResource()
      .merge(resourceFromAttributes({ [ATTR_SERVICE_NAME]: "rlmkit", [ATTR_SERVICE_VERSION]: VERSION }))
      .merge(detectResources({ detectors: [envDetector] })),
    spanProcessors: [
      new BatchSpanProcessor({
        exporter: watched(exporter, options.url, options.onFailure),
        maxQueueSize: MAX_QUEUE,
        scheduledDelayMillis: 1000,
        // A little past the exporter's own bound, so a failed export reports its reason before this gives up.
        exportTimeoutMillis: options.timeoutMs + 100,
      }),
    ],
    spanLimits: { attributeValueLengthLimit: 65_536, eventCountLimit: 1024 },
  });
  return {
    tracer: provider.getTracer("rlmkit", VERSION),
    flush: () => within(provider.forceFlush({ timeoutMillis: options.timeoutMs }), options.timeoutMs + 250),
    shutdown: () => within(provider.shutdown(), options.timeoutMs + 250),
  };
}
