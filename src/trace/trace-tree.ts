import {
  buildRunTree,
  type RunNode,
  type SubcallNode,
  type ToolNode,
  type Totals,
  type TraceNode,
  treeTotals,
} from "./run-tree.ts";
import { stepLabel } from "./step-label.ts";
import { wellFormedEvents } from "./viewer/event-shape.ts";

function tokens(input: number, output: number): string {
  return `in ${input.toLocaleString("en-US")} / out ${output.toLocaleString("en-US")} tok`;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function cost(value: number | null): string {
  return value === null ? "cost unknown" : `$${value.toFixed(4)}`;
}

/** The cost of a subtree: unknown when nothing was priced, a lower bound when some calls were not. */
function totalCost(totals: Totals): string {
  if (totals.partial || (totals.unpricedCalls > 0 && !totals.costUsd)) return "cost unknown";
  if (totals.unpricedCalls > 0) return `≥ ${cost(totals.costUsd)} (${totals.unpricedCalls} calls unpriced)`;
  return cost(totals.costUsd);
}

function oneLine(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}

type EndedCall =
  | (SubcallNode & { end: NonNullable<SubcallNode["end"]> })
  | (ToolNode & { end: NonNullable<ToolNode["end"]> });

/** The ended calls under `node` (through cells and sub-calls, not into child runs), in the order they ended. */
function endedCalls(node: TraceNode): EndedCall[] {
  const found: EndedCall[] = [];
  // A list, not recursion: a hostile trace can chain nodes thousands deep.
  const stack: TraceNode[] = [...node.children].reverse();
  for (let at = stack.pop(); at !== undefined; at = stack.pop()) {
    if (at.kind === "run") continue;
    if ((at.kind === "subcall" || at.kind === "tool") && at.end) found.push(at as EndedCall);
    for (let index = at.children.length - 1; index >= 0; index--) stack.push(at.children[index] as TraceNode);
  }
  return found.sort((a, b) => (a.endSeq ?? 0) - (b.endSeq ?? 0));
}

/**
 * Child runs shown nested at most this deep: a hostile trace can nest thousands (the recursion would overflow the
 * stack, and the indentation alone would grow with the square of the depth).
 */
const MAX_TEXT_DEPTH = 64;

/**
 * Renders a trace as a tree with tokens, cost and time per node. A trace is a file anyone may hand over: events
 * whose fields have the wrong types are left out (one warning through `onWarning`) instead of throwing.
 */
export function renderTraceTree(
  events: Parameters<typeof buildRunTree>[0],
  onWarning?: (message: string) => void,
): string {
  const tree = buildRunTree(wellFormedEvents(events, onWarning));
  const totals = treeTotals(tree);
  const lines: string[] = [];

  const renderSubcalls = (subcalls: EndedCall[], inner: string, closes: boolean, level: number) => {
    subcalls.forEach((node, callIndex) => {
      const call = node.end;
      const lastCall = closes && callIndex === subcalls.length - 1;
      const callBranch = lastCall ? "└─ " : "├─ ";
      if (call.type === "tool-end") {
        const by = call.subcallId ? " (by a sub-model)" : "";
        const outcome = call.ok
          ? `ok · ${(call.resultChars ?? 0).toLocaleString("en-US")} chars`
          : `failed: ${oneLine(call.error ?? "", 50)}`;
        lines.push(`${inner}${callBranch}tool ${call.tool}${by} · ${seconds(call.latencyMs)} · ${outcome}`);
        return;
      }
      const status = call.ok ? (call.cached ? "cached" : "ok") : `failed: ${oneLine(call.error ?? "", 50)}`;
      lines.push(
        `${inner}${callBranch}${call.kind} ${call.model} · ${call.promptChars.toLocaleString("en-US")} chars · ${seconds(call.latencyMs)} · ${tokens(call.usage.inputTokens, call.usage.outputTokens)} · ${cost(call.usage.costUsd)} · ${status}`,
      );
      const under = `${inner}${lastCall ? "   " : "│  "}`;
      const children = node.children.filter(
        (child): child is RunNode => child.kind === "run" && !!child.start,
      );
      if (children.length > 0 && level >= MAX_TEXT_DEPTH) {
        lines.push(`${under}↳ ${children.length} child runs deeper than ${MAX_TEXT_DEPTH} levels, not shown`);
        return;
      }
      for (const child of children) renderRun(child, `${under}  `, `${under}↳ `, level + 1);
    });
  };

  const renderRun = (run: RunNode, prefix: string, lead: string, level: number) => {
    const start = run.start;
    if (start === undefined) return;
    const sum = totals[run.id] as Totals;
    const status = run.end
      ? `${run.end.status} · ${run.end.iterations} iterations · ${seconds(run.end.durationMs)}`
      : "unfinished";
    lines.push(
      `${lead}run ${start.runId.slice(0, 8)} (depth ${start.depth}) ${status} · ${tokens(sum.inputTokens, sum.outputTokens)}${sum.partial ? " + root tokens unknown" : ""} · ${totalCost(sum)}`,
    );
    lines.push(`${prefix}  query: ${oneLine(start.query, 80)}`);
    for (const node of run.children) {
      if (node.kind !== "memory") continue;
      const event = node.event;
      const what = event.error ? `failed: ${oneLine(event.error, 60)}` : `${event.ids.length} items`;
      lines.push(
        `${prefix}  memory ${event.action}${event.query ? ` "${oneLine(event.query, 40)}"` : ""}: ${what}`,
      );
    }
    const iterations = run.children.filter((node) => node.kind === "iteration" && node.end !== undefined);
    // Calls outside any finished iteration: a strategy run (direct, mapreduce, ...) or a run cut short.
    const loose = run.children
      .filter((node) => node.kind !== "iteration" || node.end === undefined)
      .flatMap((node) =>
        node.kind === "subcall" || node.kind === "tool"
          ? [node, ...endedCalls(node)]
          : node.kind === "iteration"
            ? endedCalls(node)
            : [],
      )
      .filter(
        (node): node is EndedCall =>
          (node.kind === "subcall" || node.kind === "tool") && node.end !== undefined,
      )
      .sort((a, b) => (a.endSeq ?? 0) - (b.endSeq ?? 0));
    iterations.forEach((node, index) => {
      if (node.kind !== "iteration" || node.end === undefined) return;
      const event = node.end;
      const last = index === iterations.length - 1 && loose.length === 0 && !run.end?.answer;
      const branch = last ? "└─ " : "├─ ";
      const inner = prefix + (last ? "   " : "│  ");
      // An agent's step says what it was for ("plan", "step 1 of 2: ...") in place of a cell.
      const label = stepLabel(event);
      lines.push(
        `${prefix}${branch}iteration ${event.iteration}${label === undefined ? "" : ` · ${oneLine(label, 100)}`} · ${seconds(event.durationMs)} · root ${event.usageUnknown ? "tokens unknown" : `${tokens(event.usage.inputTokens, event.usage.outputTokens)} · ${cost(event.usage.costUsd)}`}`,
      );
      for (const cell of label === undefined ? event.cells : []) {
        lines.push(
          `${inner}· cell ${seconds(cell.durationMs)}${cell.error ? ` ✗ ${oneLine(cell.error)}` : ""}: ${oneLine(cell.code)}`,
        );
      }
      renderSubcalls(endedCalls(node), inner, true, level);
    });
    renderSubcalls(loose, prefix, false, level);
    for (const node of run.children) {
      if (node.kind !== "note") continue;
      const note = node.event;
      lines.push(
        note.type === "compaction"
          ? `${prefix}├─ compaction before iteration ${note.iteration}: ${note.charsBefore.toLocaleString("en-US")} -> ${note.charsAfter.toLocaleString("en-US")} chars (the model's summary)`
          : `${prefix}├─ verification: ${note.status} · ${tokens(note.usage.inputTokens, note.usage.outputTokens)} · ${cost(note.usage.costUsd)}`,
      );
    }
    if (run.end?.answer !== undefined && run.end.answer !== null) {
      lines.push(
        `${prefix}└─ answer: ${oneLine(typeof run.end.answer === "string" ? run.end.answer : JSON.stringify(run.end.answer), 100)}`,
      );
    } else if (run.end?.error) {
      lines.push(`${prefix}└─ ended: ${oneLine(run.end.error, 100)}`);
    }
  };

  for (const run of tree.roots) if (run.start?.depth === 0) renderRun(run, "", "", 0);
  if (lines.length === 0) return "(the trace holds no run)";
  return lines.join("\n");
}
