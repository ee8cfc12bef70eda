/**
 * `--otel [URL]` and `--otel-content` for the commands that run models (`rlm run`; `rlm agent` and `rlm serve`
 * can take the same): whether to export, where, and with what. Light on purpose: the OpenTelemetry SDK loads
 * only when a sink is opened.
 */
import { UsageError } from "../errors/usage-error.ts";
import type { OtelSink } from "./otel-sink.ts";
import { contentCaptureFromEnv } from "./span-content.ts";

/** The flags, for parseOptions. `--otel` with no URL becomes `--otel=` (see fillOtelFlag): the URL from env. */
export const OTEL_OPTIONS = {
  otel: { type: "string" },
  "otel-content": { type: "boolean" },
} as const;

/** Lets `--otel` stand without a value (the endpoint then comes from OTEL_EXPORTER_OTLP_ENDPOINT). */
export function fillOtelFlag(args: string[]): string[] {
  return args.map((arg, index) => {
    if (arg !== "--otel") return arg;
    const next = args[index + 1];
    return next === undefined || next.startsWith("-") ? "--otel=" : arg;
  });
}

export interface OtelFlagValues {
  otel?: string;
  "otel-content"?: boolean;
}

/** The collector the environment names, if any. */
function envEndpoint(env: Record<string, string | undefined>): string | undefined {
  const endpoint = env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?.trim() || env.OTEL_EXPORTER_OTLP_ENDPOINT?.trim();
  return endpoint || undefined;
}

/** Export without a flag: a collector in the environment, and OpenTelemetry not turned off there. */
function exportsByEnvironment(env: Record<string, string | undefined>): boolean {
  return env.OTEL_SDK_DISABLED?.trim().toLowerCase() !== "true" && envEndpoint(env) !== undefined;
}

/**
 * The sink the flags ask for, or undefined: `--otel URL`, `--otel` (URL from the environment), or no flag with
 * OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT set (OTEL_SDK_DISABLED=true turns that off). Mistakes are user errors.
 */
export async function openOtelSink(
  values: OtelFlagValues,
  env: Record<string, string | undefined>,
  options: {
    secrets?: Array<string | undefined>;
    agentName?: string;
    /** Privacy mode is on: content (cell outputs hold the raw context) must not leave for a collector. */
    privacy?: boolean;
  } = {},
): Promise<OtelSink | undefined> {
  const flag = values.otel;
  if (flag === undefined && !exportsByEnvironment(env)) {
    if (values["otel-content"]) {
      throw new UsageError({
        message:
          "--otel-content needs --otel URL (or OTEL_EXPORTER_OTLP_ENDPOINT): where should the spans go?",
      });
    }
    return undefined;
  }
  if (flag === "" && envEndpoint(env) === undefined) {
    throw new UsageError({
      message:
        "--otel needs the collector's address: --otel http://127.0.0.1:4318, or set OTEL_EXPORTER_OTLP_ENDPOINT.",
    });
  }
  if (options.privacy && (values["otel-content"] || contentCaptureFromEnv(env))) {
    throw new UsageError({
      message:
        "--otel-content (or OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true) would send the context's text to the collector, which --privacy local forbids: drop one of them.",
    });
  }
  const { createOtelSink } = await import("./otel-sink.ts");
  // A URL it cannot use is a ConfigError naming --otel or the variable (exit 2 in the CLI).
  return createOtelSink({
    ...(flag ? { url: flag } : {}),
    ...(values["otel-content"] ? { captureContent: true } : {}),
    ...(options.agentName ? { agentName: options.agentName } : {}),
    secrets: (options.secrets ?? []).filter((value): value is string => value !== undefined),
    env,
  });
}
