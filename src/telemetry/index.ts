export { exportTraceEvents } from "./export-trace.ts";
export { createOtlpExport, type OtlpExport, resolveOtlpTracesUrl } from "./otel-exporter.ts";
export { fillOtelFlag, OTEL_OPTIONS, type OtelFlagValues, openOtelSink } from "./otel-flags.ts";
export {
  contentCaptureFromEnv,
  createOtelSink,
  DEFAULT_OTEL_TIMEOUT_MS,
  type OtelSink,
  type OtelSinkOptions,
} from "./otel-sink.ts";
export { createRunSpans, type RunSpans, type RunSpansOptions } from "./run-spans.ts";
