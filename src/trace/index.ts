export { createJsonlTraceWriter, readJsonlTrace, type TraceWriter } from "./jsonl-trace.ts";
export {
  convertOfficialLog,
  isOfficialLog,
  type OfficialRecord,
  officialFinalAnswer,
} from "./official-trace.ts";
export { formatReplayReport, type ReplayReport, replayOfficialLog } from "./replay.ts";
export { renderTraceTree } from "./trace-tree.ts";
