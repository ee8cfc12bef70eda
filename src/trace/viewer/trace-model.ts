import type { RunEvent } from "../../engine/run-events.ts";
import {
  buildRunTree,
  modelTotals,
  type RunNode,
  type SubcallNode,
  type ToolNode,
  type Totals,
  type TraceNode,
  treeTotals,
} from "../run-tree.ts";
import { stepLabel } from "../step-label.ts";
import { answerPath } from "./answer-path.ts";

/**
 * What the trace viewer's page renders: the run tree as plain JSON, one entry per node, with its totals, times,
 * marks and texts. Built on the server (or by `rlm trace html`); the page only displays it.
 */
export interface TraceModel {
  /** The trace's file name, for the page title. */
  title: string;
  nodes: ViewNode[];
  /** Ids of the top-level runs. */
  roots: number[];
  models: ModelRow[];
  /** Epoch ms of the first and last event; node times are ms after `startAt`. */
  startAt: number;
  endAt: number;
  /** Ids of the nodes marked error or limit, in tree order, at most MAX_PROBLEMS. */
  problems: number[];
  /** How many nodes are marked error or limit in all. */
  problemCount: number;
}

export type ViewKind = "run" | "iteration" | "cell" | "subcall" | "tool" | "memory" | "note";
/** ok; error (a failed call or cell); limit (a run stopped by a limit); running (no end yet); cached. */
export type ViewStatus = "ok" | "error" | "limit" | "running" | "cached";

export interface ViewNode {
  id: number;
  kind: ViewKind;
  /** -1 for a top-level run. */
  parent: number;
  children: number[];
  /** What the node is: "iteration 3", "llm_query openai:gpt-5-mini", "tool web_search". */
  label: string;
  /** One line of its content: the query, the code, the arguments. */
  line: string;
  /** Tokens and cost of the node and everything under it. */
  inputTokens: number;
  outputTokens: number;
  costUsd: number | null;
  unpricedCalls: number;
  /** Some root calls' tokens are unknown (official logs). */
  partial: boolean;
  /** Duration in ms, when known. */
  ms: number | null;
  /** Start and end in ms after the trace's start (for the timeline), when known. */
  t0: number | null;
  t1: number | null;
  status: ViewStatus;
  /** The error or the limit, one line. */
  why?: string;
  /** On the answer path (see answer-path.ts). */
  path: boolean;
  /** Errors and limit stops under this node (itself excluded). */
  problemsBelow: number;
  /** Titled texts shown when the node is opened: code, output, reply, answer, arguments... */
  sections: Array<[title: string, text: string]>;
}

export interface ModelRow {
  model: string;
  calls: number;
  inputTokens: number;
  outputTokens: number;
  costUsd: number | null;
  unpricedCalls: number;
  partial: boolean;
}

/** A section longer than this is cut (with a note) so that one huge output cannot make the page unusable. */
export const MAX_SECTION_CHARS = 100_000;
const MAX_PROBLEMS = 1_000;
const LIMIT_STATUSES = new Set([
  "max_iterations",
  "budget_exceeded",
  "timeout",
  "cancelled",
  "max_steps",
  "max_tool_calls",
]);

/** Builds the page's model of a trace. */
export function buildTraceModel(events: readonly RunEvent[], title = "trace"): TraceModel {
  const tree = buildRunTree(events);
  const totals = treeTotals(tree);
  const path = answerPath(tree.roots);
  const startAt = tree.firstAt;
  const relative = (at: number | undefined) =>
    at === undefined || at <= 0 ? null : Math.max(0, at - startAt);
  const nodes = tree.nodes.map((node) => {
    const view = viewNode(node, totals[node.id] as Totals, path.has(node.id), relative);
    // Tenths of a millisecond are plenty, and keep a big page smaller.
    view.ms = tenths(view.ms);
    view.t0 = tenths(view.t0);
    view.t1 = tenths(view.t1);
    return view;
  });
  const problems: number[] = [];
  let problemCount = 0;
  // Tree order (depth first), so the list of problems reads top to bottom; counts flow up to the ancestors
  // afterwards, children before parents (walking up from each problem would be quadratic in a deep tree).
  const isProblem = (view: ViewNode) => view.status === "error" || view.status === "limit";
  const order: TraceNode[] = [];
  const stack: TraceNode[] = [...tree.roots].reverse();
  while (stack.length > 0) {
    const node = stack.pop() as TraceNode;
    order.push(node);
    if (isProblem(nodes[node.id] as ViewNode)) {
      problemCount++;
      if (problems.length < MAX_PROBLEMS) problems.push(node.id);
    }
    for (let index = node.children.length - 1; index >= 0; index--)
      stack.push(node.children[index] as TraceNode);
  }
  for (let index = order.length - 1; index >= 0; index--) {
    const node = order[index] as TraceNode;
    if (node.parent === undefined) continue;
    const view = nodes[node.id] as ViewNode;
    (nodes[node.parent.id] as ViewNode).problemsBelow += view.problemsBelow + (isProblem(view) ? 1 : 0);
  }
  return {
    title,
    nodes,
    roots: tree.roots.map((run) => run.id),
    models: modelTotals(tree).map(
      ({ model, calls, inputTokens, outputTokens, costUsd, unpricedCalls, partial }) => ({
        model,
        calls,
        inputTokens,
        outputTokens,
        costUsd,
        unpricedCalls,
        partial,
      }),
    ),
    startAt,
    endAt: tree.lastAt,
    problems,
    problemCount,
  };
}

/** "iteration 5", or for an agent's step what it was for: "iteration 5 · synthesis" (as `rlm trace show` prints it). */
function iterationLabel(iteration: number, step: string | undefined): string {
  return step === undefined ? `iteration ${iteration}` : `iteration ${iteration} · ${oneLine(step, 100)}`;
}

function tenths(value: number | null): number | null {
  return value === null ? null : Math.round(value * 10) / 10;
}

/** 12345 -> "12,345" (toLocaleString costs microseconds a call; a big trace has tens of thousands). */
function grouped(value: number): string {
  return String(Math.round(value)).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

function oneLine(text: string, max = 160): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}…` : flat;
}

function section(title: string, text: string | undefined): Array<[string, string]> {
  if (text === undefined || text === "") return [];
  const cut =
    text.length > MAX_SECTION_CHARS
      ? `${text.slice(0, MAX_SECTION_CHARS)}\n… ${grouped(text.length - MAX_SECTION_CHARS)} more characters (see the trace file)`
      : text;
  return [[title, cut]];
}

function asText(value: unknown): string | undefined {
  if (value === undefined || value === null) return undefined;
  return typeof value === "string" ? value : JSON.stringify(value, null, 2);
}

/** A sub-call's prompt and response, where a trace records them (events of newer writers may carry them). */
function recorded(event: object | undefined, field: "prompt" | "response"): string | undefined {
  const value = (event as Record<string, unknown> | undefined)?.[field];
  return typeof value === "string" ? value : undefined;
}

/** When a call started: its start event, or earlier where its end time less its latency says so (official logs). */
function callStart(node: SubcallNode | ToolNode): number | undefined {
  const start = node.start?.at;
  const end = node.end ? node.end.at - node.end.latencyMs : undefined;
  if (start === undefined || end === undefined) return start ?? end;
  return Math.min(start, end);
}

function viewNode(
  node: TraceNode,
  totals: Totals,
  onPath: boolean,
  relative: (at: number | undefined) => number | null,
): ViewNode {
  const base = {
    id: node.id,
    kind: node.kind,
    parent: node.parent?.id ?? -1,
    children: node.children.map((child) => child.id),
    inputTokens: totals.inputTokens,
    outputTokens: totals.outputTokens,
    costUsd: totals.costUsd,
    unpricedCalls: totals.unpricedCalls,
    partial: totals.partial,
    path: onPath,
    problemsBelow: 0,
  };
  switch (node.kind) {
    case "run":
      return { ...base, ...runView(node, relative) };
    case "iteration": {
      const end = node.end;
      // An official log stamps start and end with one time: the duration says when it started.
      const started = end ? Math.min(node.start?.at ?? end.at, end.at - end.durationMs) : node.start?.at;
      return {
        ...base,
        label: iterationLabel(node.iteration, stepLabel(end)),
        line: end ? oneLine(end.reply) : "running…",
        ms: end?.durationMs ?? null,
        t0: relative(started),
        t1: end ? relative(end.at) : null,
        status: end ? "ok" : "running",
        sections: [
          ...section("response (the root model's reply)", end?.reply),
          ...(end
            ? section(
                "root call",
                end.usageUnknown
                  ? "tokens not recorded in this log"
                  : `${end.usage.inputTokens} input tokens (${end.usage.cachedInputTokens ?? 0} cached), ${end.usage.outputTokens} output tokens, ${Math.round(end.modelLatencyMs)} ms`,
              )
            : []),
        ],
      };
    }
    case "cell": {
      const cell = node.cell;
      return {
        ...base,
        label: `cell ${node.index}`,
        line: oneLine(cell.code),
        ms: cell.durationMs,
        t0: relative(node.startAt),
        t1: relative(node.startAt + cell.durationMs),
        status: cell.error ? "error" : "ok",
        ...(cell.error ? { why: oneLine(cell.error, 300) } : {}),
        sections: [
          ...section("code", cell.code),
          ...section("output", cell.output),
          ...section("error", cell.error),
        ],
      };
    }
    case "subcall": {
      const event = node.end ?? node.start;
      const end = node.end;
      const status = end === undefined ? "running" : !end.ok ? "error" : end.cached ? "cached" : "ok";
      const prompt = recorded(node.start, "prompt") ?? recorded(end, "prompt");
      const response = recorded(end, "response");
      return {
        ...base,
        label: `${event?.kind ?? "sub-call"} ${event?.model ?? ""}`.trim(),
        line: `${grouped(event?.promptChars ?? 0)} chars of prompt${end?.cached ? " · cached" : ""}`,
        ms: end?.latencyMs ?? null,
        t0: relative(callStart(node)),
        t1: end ? relative(end.at) : null,
        status,
        ...(end?.error ? { why: oneLine(end.error, 300) } : {}),
        sections: [
          ...section("prompt", prompt),
          ...section("response", response),
          ...section("error", end?.error),
          ...section("child run", end?.childRunId),
        ],
      };
    }
    case "tool": {
      const event = node.end ?? node.start;
      const end = node.end;
      return {
        ...base,
        label: `tool ${event?.tool ?? "?"}${event?.subcallId ? " (by a sub-model)" : ""}`,
        line: oneLine(node.start?.args ?? (end?.ok ? `${end.resultChars ?? 0} chars` : "")),
        ms: end?.latencyMs ?? null,
        t0: relative(callStart(node)),
        t1: end ? relative(end.at) : null,
        status: end === undefined ? "running" : end.ok ? "ok" : "error",
        ...(end?.error ? { why: oneLine(end.error, 300) } : {}),
        sections: [
          ...section("arguments", node.start?.args),
          ...section("output", end?.output),
          ...section("error", end?.error),
          ...(end?.unverified ? section("note", "the answer of a model asked for a fact: not checked") : []),
          ...(end && end.output === undefined && end.ok
            ? section("result", `${grouped(end.resultChars ?? 0)} characters (not recorded)`)
            : []),
        ],
      };
    }
    case "memory": {
      const event = node.event;
      return {
        ...base,
        label: `memory ${event.action}`,
        line: event.error
          ? oneLine(event.error)
          : `${event.ids.length} items${event.query ? ` · ${oneLine(event.query, 80)}` : ""}`,
        ms: null,
        t0: relative(event.at),
        t1: null,
        status: event.error ? "error" : "ok",
        ...(event.error ? { why: oneLine(event.error, 300) } : {}),
        sections: [
          ...section("query", event.query),
          ...section("items", event.ids.join("\n")),
          ...section("error", event.error),
        ],
      };
    }
    case "note": {
      const event = node.event;
      const text =
        event.type === "compaction"
          ? `before iteration ${event.iteration}: ${event.charsBefore} -> ${event.charsAfter} characters (the model's summary)`
          : event.evidence;
      return {
        ...base,
        label: event.type === "compaction" ? "compaction" : `verification: ${event.status}`,
        line: oneLine(text),
        ms: null,
        t0: relative(event.at),
        t1: null,
        status: "ok",
        sections: section(event.type === "compaction" ? "compaction" : "evidence", text),
      };
    }
  }
}

function runView(
  run: RunNode,
  relative: (at: number | undefined) => number | null,
): Omit<ViewNode, keyof Totals | "id" | "kind" | "parent" | "children" | "path" | "problemsBelow" | "calls"> {
  const start = run.start;
  const end = run.end;
  const status =
    end === undefined
      ? "running"
      : end.status === "completed"
        ? "ok"
        : LIMIT_STATUSES.has(end.status)
          ? "limit"
          : "error";
  const why =
    end && end.status !== "completed"
      ? oneLine(`${end.status}${end.error ? `: ${end.error}` : ""}`, 300)
      : undefined;
  const answer = asText(end?.answer);
  return {
    label: `run ${run.runId.slice(0, 8)}${run.depth > 0 ? ` (depth ${run.depth})` : ""}`,
    line: oneLine(start?.query ?? "(the trace lacks this run's start)"),
    ms: end?.durationMs ?? (run.lastAt > run.firstAt ? run.lastAt - run.firstAt : null),
    t0: relative(start?.at ?? run.firstAt),
    t1: relative(end?.at ?? run.lastAt),
    status,
    ...(why ? { why } : {}),
    sections: [
      ...section("query (the prompt of the run)", start?.query),
      ...section("answer", answer),
      ...section("ended", end?.error),
      ...section(
        "run",
        [
          `run id ${run.runId}`,
          start
            ? `model ${start.model}, sub-model ${start.subModel}, ${start.contextChars} characters of context`
            : "",
          end ? `${end.status} after ${end.iterations} iterations` : "no end event yet",
          run.audits > 0 ? `${run.audits} requests audited (privacy mode)` : "",
        ]
          .filter(Boolean)
          .join("\n"),
      ),
    ],
  };
}
