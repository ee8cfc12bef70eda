/**
 * The OpenTelemetry trace sink: a run's events as GenAI spans (run-spans.ts), sent to an OTLP/HTTP collector
 * (otel-exporter.ts). A TraceSink (spec/trace-sink.ts): writing never throws or waits, a collector that is down
 * or refuses costs the spans and becomes one warning (`failure`), and `close` is bounded in time.
 *
 *   const sink = createOtelSink({ url: "http://127.0.0.1:4318" });
 *   const rlm = createRLM({ model, onEvent: sink.write });
 *   await rlm.run({ context, query });
 *   await sink.close();
 *   if (sink.failure) console.warn(sink.failure);
 */
import type { Context } from "@opentelemetry/api";
import type { RunEvent } from "../engine/run-events.ts";
import { ConfigError } from "../errors/config-error.ts";
import { collectSecrets } from "../models/redact-secrets.ts";
import type { TraceEvent, TraceSink } from "../spec/trace-sink.ts";
import { createOtlpExport, printableUrl, resolveOtlpTracesUrl } from "./otel-exporter.ts";
import { createRunSpans } from "./run-spans.ts";
import { contentCaptureFromEnv, errorLine } from "./span-content.ts";

export { contentCaptureFromEnv };

/** How long a flush or close waits for the collector before it gives up with a warning. */
export const DEFAULT_OTEL_TIMEOUT_MS = 5000;

export interface OtelSinkOptions {
  /**
   * The collector: a base address (`http://127.0.0.1:4318`, which gets `/v1/traces`) or the full traces URL.
   * Default: OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else OTEL_EXPORTER_OTLP_ENDPOINT (+ /v1/traces); one of them
   * must be set.
   */
  url?: string;
  /** Request headers (an auth token); OTEL_EXPORTER_OTLP_HEADERS is read as well. */
  headers?: Record<string, string>;
  /**
   * Put prompts, replies, code, outputs, tool arguments and results, and answers on the spans, redacted of
   * secrets. Default: OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true, else off (sizes and counts only).
   */
  captureContent?: boolean;
  /** gen_ai.agent.name of run spans: "rlm" (default), "rlm-agent" for the agent. */
  agentName?: string;
  /** Parent context of root runs (e.g. a server's request span); default: each root run is its own trace. */
  parent?: Context;
  /** Longest wait on the collector in a flush or close, in ms (default 5000). */
  timeoutMs?: number;
  /** Values never to send besides the environment's keys (collectSecrets), e.g. a key given as a flag. */
  secrets?: string[];
  /** Where the OTEL_* variables are read (default process.env). */
  env?: Record<string, string | undefined>;
}

export interface OtelSink extends TraceSink {
  /** The traces URL the spans go to (without credentials). */
  readonly url: string;
  flush(): Promise<void>;
  close(): Promise<void>;
}

export function createOtelSink(options: OtelSinkOptions = {}): OtelSink {
  const env = options.env ?? process.env;
  const url = resolveOtlpTracesUrl(options.url, env);
  if (url === undefined) {
    throw new ConfigError({
      message:
        "OpenTelemetry export needs a collector: pass url (--otel URL) or set OTEL_EXPORTER_OTLP_ENDPOINT, e.g. http://127.0.0.1:4318.",
    });
  }
  const shown = printableUrl(url);
  const timeoutMs = options.timeoutMs ?? DEFAULT_OTEL_TIMEOUT_MS;
  const headerValues = [
    ...Object.values(options.headers ?? {}),
    ...(env.OTEL_EXPORTER_OTLP_HEADERS ?? "").split(",").map((pair) => pair.split("=").slice(1).join("=")),
  ];
  const secrets = collectSecrets(env, [...(options.secrets ?? []), ...headerValues.map((v) => v.trim())]);
  let failure: string | undefined;
  const fail = (line: string) => {
    failure ??= line;
  };
  const otlp = createOtlpExport({
    url,
    ...(options.headers ? { headers: options.headers } : {}),
    timeoutMs,
    onFailure: (reason) =>
      fail(
        errorLine(
          `the OpenTelemetry export to ${shown} failed (${reason}); spans are missing there`,
          secrets,
        ),
      ),
  });
  const spans = createRunSpans({
    tracer: otlp.tracer,
    agentName: options.agentName ?? "rlm",
    captureContent: options.captureContent ?? contentCaptureFromEnv(env),
    secrets,
    ...(options.parent ? { parent: options.parent } : {}),
  });
  const late = () =>
    fail(
      `the OpenTelemetry collector at ${shown} did not take the spans within ${timeoutMs / 1000} s; some may be lost`,
    );
  let closing: Promise<void> | undefined;

  const write = (event: TraceEvent) => {
    if (closing !== undefined) return;
    try {
      spans.write(event as RunEvent);
    } catch (error) {
      // An event of a shape we do not know (or a bug of ours) costs that event's span, never the run.
      const why = error instanceof Error ? error.message : String(error);
      fail(
        errorLine(`an event (${String(event?.type).slice(0, 40)}) could not become a span: ${why}`, secrets),
      );
    }
  };
  return {
    url: shown,
    write,
    async flush() {
      if (closing !== undefined) return;
      if (!(await otlp.flush())) late();
    },
    close() {
      closing ??= (async () => {
        try {
          spans.endAll(Date.now());
        } catch {
          // Ending what is open is best effort; what ended already is sent below.
        }
        if (!(await otlp.shutdown())) late();
      })();
      return closing;
    },
    get failure() {
      return failure;
    },
  };
}
