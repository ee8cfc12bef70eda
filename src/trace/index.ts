export { createJsonlTraceWriter, readJsonlTrace, type TraceWriter } from "./jsonl-trace.ts";
export { renderTraceTree } from "./trace-tree.ts";
