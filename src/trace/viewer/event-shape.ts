import type { RunEvent } from "../../engine/run-events.ts";

/**
 * Keeps the events whose fields have the types the viewer reads, and drops the others with one warning: a
 * trace is a file anyone may hand over, and a wrong type (cells that are not a list) must not break the page.
 * Events of types this version does not know pass through; the tree ignores them. Optional fields are checked
 * too where the viewer reads them as text (a memory event's error of 5 made buildTraceModel throw, and a thrown
 * rebuild ended `rlm trace view`).
 */
export function wellFormedEvents(
  records: readonly unknown[],
  onWarning?: (message: string) => void,
): RunEvent[] {
  const kept: RunEvent[] = [];
  let dropped = 0;
  let firstBad = "";
  for (const record of records) {
    const problem = shapeProblem(record);
    if (problem === undefined) kept.push(record as RunEvent);
    else {
      dropped++;
      firstBad ||= problem;
    }
  }
  if (dropped > 0) onWarning?.(`skipped ${dropped} malformed events (the first: ${firstBad})`);
  return kept;
}

type Check = "string" | "number" | "boolean" | "object" | "array" | "string?" | "number?";

const USAGE: Record<string, Check> = { inputTokens: "number", outputTokens: "number" };
const FIELDS: Record<string, Record<string, Check>> = {
  "run-start": { query: "string", model: "string" },
  "run-end": { status: "string", iterations: "number", durationMs: "number", error: "string?" },
  "iteration-start": { iteration: "number" },
  "iteration-end": {
    iteration: "number",
    reply: "string",
    usage: "object",
    cells: "array",
    durationMs: "number",
    modelLatencyMs: "number",
  },
  "subcall-start": { callId: "string", kind: "string", model: "string", promptChars: "number" },
  "subcall-end": {
    callId: "string",
    kind: "string",
    model: "string",
    promptChars: "number",
    ok: "boolean",
    usage: "object",
    latencyMs: "number",
    error: "string?",
    childRunId: "string?",
  },
  "tool-start": { callId: "string", tool: "string", args: "string", subcallId: "string?" },
  "tool-end": {
    callId: "string",
    tool: "string",
    ok: "boolean",
    latencyMs: "number",
    output: "string?",
    error: "string?",
    subcallId: "string?",
    resultChars: "number?",
  },
  memory: { action: "string", ids: "array", query: "string?", error: "string?" },
  compaction: { iteration: "number", charsBefore: "number", charsAfter: "number" },
  verification: { status: "string", evidence: "string", usage: "object" },
};
const CELL: Record<string, Check> = {
  code: "string",
  output: "string",
  durationMs: "number",
  error: "string?",
};

function fits(value: unknown, check: Check): boolean {
  if (check.endsWith("?")) return value === undefined || fits(value, check.slice(0, -1) as Check);
  if (check === "array") return Array.isArray(value);
  if (check === "object") return value !== null && typeof value === "object" && !Array.isArray(value);
  if (check === "number") return typeof value === "number" && Number.isFinite(value);
  return typeof value === check;
}

function missing(record: Record<string, unknown>, fields: Record<string, Check>): string | undefined {
  for (const [field, check] of Object.entries(fields)) if (!fits(record[field], check)) return field;
  return undefined;
}

function shapeProblem(record: unknown): string | undefined {
  if (!fits(record, "object")) return "not an object";
  const event = record as Record<string, unknown>;
  const type = String(event.type);
  const base = missing(event, {
    type: "string",
    runId: "string",
    at: "number",
    depth: "number",
    parentRunId: "string?",
    parentCallId: "string?",
  });
  if (base) return `${type} without a valid ${base}`;
  const fields = FIELDS[type];
  if (fields === undefined) return undefined;
  const wrong = missing(event, fields);
  if (wrong) return `${type} without a valid ${wrong}`;
  if ("usage" in fields) {
    const usage = event.usage as Record<string, unknown>;
    if (missing(usage, USAGE) || !(usage.costUsd === null || fits(usage.costUsd, "number")))
      return `${type} with a malformed usage`;
  }
  if (
    type === "iteration-end" &&
    !(event.cells as unknown[]).every(
      (cell) => fits(cell, "object") && !missing(cell as Record<string, unknown>, CELL),
    )
  )
    return "iteration-end with a malformed cell";
  if (type === "memory" && !(event.ids as unknown[]).every((id) => typeof id === "string"))
    return "memory with ids that are not text";
  return undefined;
}
