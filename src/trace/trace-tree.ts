import type {
  CompactionEvent,
  IterationEndEvent,
  MemoryEvent,
  RunEndEvent,
  RunEvent,
  RunStartEvent,
  SubcallEndEvent,
  ToolEndEvent,
  VerificationEvent,
} from "../engine/run-events.ts";

/** A sub-call or a call of a user tool, as it ended. */
type CallEnd = SubcallEndEvent | ToolEndEvent;

interface RunNode {
  start: RunStartEvent;
  end?: RunEndEvent;
  iterations: Array<{ event: IterationEndEvent; subcalls: CallEnd[] }>;
  /** Sub-calls (and tool calls) not inside a finished iteration (the run was cut short). */
  loose: CallEnd[];
  /** What the run recalled from, searched in and stored to its memory. */
  memory: MemoryEvent[];
  /** Summary compactions and the verification turn's outcome. */
  notes: Array<CompactionEvent | VerificationEvent>;
}

function tokens(input: number, output: number): string {
  return `in ${input.toLocaleString("en-US")} / out ${output.toLocaleString("en-US")} tok`;
}

function seconds(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(1)} s`;
}

function cost(value: number | null): string {
  return value === null ? "cost unknown" : `$${value.toFixed(4)}`;
}

function oneLine(text: string, max = 60): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max)}...` : flat;
}

/** Groups events into runs; sub-calls go under the iteration during which they ended. */
function buildRuns(events: RunEvent[]): Map<string, RunNode> {
  const runs = new Map<string, RunNode>();
  const pending = new Map<string, CallEnd[]>();
  for (const event of events) {
    if (event.type === "run-start")
      runs.set(event.runId, { start: event, iterations: [], loose: [], memory: [], notes: [] });
    const run = runs.get(event.runId);
    if (run === undefined) continue;
    if (event.type === "memory") {
      run.memory.push(event);
    } else if (event.type === "compaction" || event.type === "verification") {
      run.notes.push(event);
    } else if (event.type === "subcall-end" || event.type === "tool-end") {
      const list = pending.get(event.runId) ?? [];
      list.push(event);
      pending.set(event.runId, list);
    } else if (event.type === "iteration-end") {
      run.iterations.push({ event, subcalls: pending.get(event.runId) ?? [] });
      pending.delete(event.runId);
    } else if (event.type === "run-end") {
      run.end = event;
      run.loose = pending.get(event.runId) ?? [];
      pending.delete(event.runId);
    }
  }
  return runs;
}

/** The totals of a run: its iterations, its sub-calls and its children. */
interface Totals {
  input: number;
  output: number;
  costUsd: number | null;
  /** Some root calls' tokens are not known: the figures are a lower bound. */
  partial: boolean;
}

function runTotals(run: RunNode, runs: Map<string, RunNode>): Totals {
  let input = 0;
  let output = 0;
  let costUsd: number | null = null;
  const add = (usage: { inputTokens: number; outputTokens: number; costUsd: number | null }) => {
    input += usage.inputTokens;
    output += usage.outputTokens;
    if (usage.costUsd !== null) costUsd = (costUsd ?? 0) + usage.costUsd;
  };
  let partial = false;
  for (const { event, subcalls } of run.iterations) {
    add(event.usage);
    partial ||= event.usageUnknown === true;
    for (const call of subcalls)
      if (call.type === "subcall-end" && call.kind === "llm_query") add(call.usage);
  }
  for (const call of run.loose) if (call.type === "subcall-end" && call.kind === "llm_query") add(call.usage);
  for (const child of runs.values()) {
    if (child.start.parentRunId === run.start.runId) {
      const totals = runTotals(child, runs);
      input += totals.input;
      output += totals.output;
      if (totals.costUsd !== null) costUsd = (costUsd ?? 0) + totals.costUsd;
      partial ||= totals.partial;
    }
  }
  return { input, output, costUsd, partial };
}

/** Renders a trace as a tree with tokens, cost and time per node. */
export function renderTraceTree(events: RunEvent[]): string {
  const runs = buildRuns(events);
  const lines: string[] = [];
  const childOf = (callId: string) => [...runs.values()].find((run) => run.start.parentCallId === callId);

  const renderSubcalls = (subcalls: CallEnd[], inner: string, closes: boolean) => {
    subcalls.forEach((call, callIndex) => {
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
      const child = call.kind === "rlm_query" ? childOf(call.callId) : undefined;
      const under = `${inner}${lastCall ? "   " : "│  "}`;
      if (child) renderRun(child, `${under}  `, `${under}↳ `);
    });
  };

  const renderRun = (run: RunNode, prefix: string, lead: string) => {
    const totals = runTotals(run, runs);
    const status = run.end
      ? `${run.end.status} · ${run.end.iterations} iterations · ${seconds(run.end.durationMs)}`
      : "unfinished";
    lines.push(
      `${lead}run ${run.start.runId.slice(0, 8)} (depth ${run.start.depth}) ${status} · ${tokens(totals.input, totals.output)}${totals.partial ? " + root tokens unknown" : ""} · ${totals.partial ? "cost unknown" : cost(totals.costUsd)}`,
    );
    lines.push(`${prefix}  query: ${oneLine(run.start.query, 80)}`);
    for (const event of run.memory) {
      const what = event.error ? `failed: ${oneLine(event.error, 60)}` : `${event.ids.length} items`;
      lines.push(
        `${prefix}  memory ${event.action}${event.query ? ` "${oneLine(event.query, 40)}"` : ""}: ${what}`,
      );
    }
    const items: Array<() => void> = [];
    run.iterations.forEach(({ event, subcalls }, index) => {
      items.push(() => {
        const last = index === run.iterations.length - 1 && run.loose.length === 0 && !run.end?.answer;
        const branch = last ? "└─ " : "├─ ";
        const inner = prefix + (last ? "   " : "│  ");
        lines.push(
          `${prefix}${branch}iteration ${event.iteration} · ${seconds(event.durationMs)} · root ${event.usageUnknown ? "tokens unknown" : `${tokens(event.usage.inputTokens, event.usage.outputTokens)} · ${cost(event.usage.costUsd)}`}`,
        );
        for (const cell of event.cells) {
          lines.push(
            `${inner}· cell ${seconds(cell.durationMs)}${cell.error ? ` ✗ ${oneLine(cell.error)}` : ""}: ${oneLine(cell.code)}`,
          );
        }
        renderSubcalls(subcalls, inner, true);
      });
    });
    for (const item of items) item();
    // Sub-calls outside any iteration: a strategy run (direct, mapreduce, ...) or a run cut short.
    renderSubcalls(run.loose, prefix, false);
    for (const note of run.notes) {
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

  for (const run of runs.values()) if (run.start.depth === 0) renderRun(run, "", "");
  if (lines.length === 0) return "(the trace holds no run)";
  return lines.join("\n");
}
