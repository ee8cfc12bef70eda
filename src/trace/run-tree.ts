import type {
  CompactionEvent,
  IterationEndEvent,
  IterationStartEvent,
  MemoryEvent,
  RunEndEvent,
  RunEvent,
  RunStartEvent,
  SubcallEndEvent,
  SubcallStartEvent,
  ToolEndEvent,
  ToolStartEvent,
  VerificationEvent,
} from "../engine/run-events.ts";
import { stepLabel } from "./step-label.ts";

/**
 * A trace as a tree: runs, their iterations, each iteration's cells, the sub-calls and tool calls each cell
 * made, and the child run of each rlm_query under its sub-call. `rlm trace show` prints it as text and the trace
 * viewer renders it as a page.
 *
 * Nodes are numbered in the order the events create them, so the same trace with more events appended keeps
 * every number it had (the live viewer sends only the nodes that changed).
 */
export type TraceNode = RunNode | IterationNode | CellNode | SubcallNode | ToolNode | MemoryNode | NoteNode;

interface NodeBase {
  /** The node's number: its index in `RunTree.nodes`. */
  id: number;
  parent: TraceNode | undefined;
  children: TraceNode[];
  /** The run the node belongs to (a child run's own id for the run node). */
  runId: string;
}

export interface RunNode extends NodeBase {
  kind: "run";
  /** Missing when the trace holds events of a run but not its start (a cut trace). */
  start?: RunStartEvent;
  end?: RunEndEvent;
  depth: number;
  /** Epoch ms of the run's first and latest event. */
  firstAt: number;
  lastAt: number;
  /** Requests audited in privacy mode (sizes only; the viewer shows the count). */
  audits: number;
  /** The iteration running now (between its start and end events). */
  current?: IterationNode;
}

export interface IterationNode extends NodeBase {
  kind: "iteration";
  iteration: number;
  start?: IterationStartEvent;
  end?: IterationEndEvent;
}

export interface CellNode extends NodeBase {
  kind: "cell";
  /** 1-based, as the model is told. */
  index: number;
  cell: IterationEndEvent["cells"][number];
  /** Epoch ms the cell started, estimated from the iteration's end time and the cells' durations. */
  startAt: number;
}

export interface SubcallNode extends NodeBase {
  kind: "subcall";
  callId: string;
  start?: SubcallStartEvent;
  end?: SubcallEndEvent;
  /** The position of the end event in the trace (the text tree lists calls in the order they ended). */
  endSeq?: number;
}

export interface ToolNode extends NodeBase {
  kind: "tool";
  callId: string;
  start?: ToolStartEvent;
  end?: ToolEndEvent;
  endSeq?: number;
}

export interface MemoryNode extends NodeBase {
  kind: "memory";
  event: MemoryEvent;
}

export interface NoteNode extends NodeBase {
  kind: "note";
  event: CompactionEvent | VerificationEvent;
}

export interface RunTree {
  /** Every node, by its id. */
  nodes: TraceNode[];
  /** Runs without a parent in the trace (the root runs; a child whose parent is missing). */
  roots: RunNode[];
  /** Epoch ms of the first and last event (0 for an empty trace). */
  firstAt: number;
  lastAt: number;
}

/** Builds the tree of a trace in one pass over its events. */
export function buildRunTree(events: readonly RunEvent[]): RunTree {
  const nodes: TraceNode[] = [];
  const roots: RunNode[] = [];
  const runs = new Map<string, RunNode>();
  const calls = new Map<string, SubcallNode | ToolNode>();
  let firstAt = Number.POSITIVE_INFINITY;
  let lastAt = Number.NEGATIVE_INFINITY;

  const add = <T extends TraceNode>(node: Omit<T, "id" | "children">, parent: TraceNode | undefined): T => {
    const made = { ...node, id: nodes.length, children: [] } as unknown as T;
    nodes.push(made);
    if (parent) parent.children.push(made);
    return made;
  };
  const runOf = (event: RunEvent): RunNode => {
    const known = runs.get(event.runId);
    if (known) return known;
    const parentCall =
      event.parentRunId !== undefined && event.parentCallId !== undefined
        ? calls.get(`${event.parentRunId}/${event.parentCallId}`)
        : undefined;
    const parent = parentCall ?? (event.parentRunId ? runs.get(event.parentRunId) : undefined);
    const run = add<RunNode>(
      {
        kind: "run",
        parent,
        runId: event.runId,
        depth: event.depth,
        firstAt: event.at,
        lastAt: event.at,
        audits: 0,
      },
      parent,
    );
    runs.set(event.runId, run);
    if (parent === undefined) roots.push(run);
    return run;
  };
  const callNode = <K extends "subcall" | "tool">(
    kind: K,
    run: RunNode,
    callId: string,
    subcallId?: string,
  ) => {
    const key = `${run.runId}/${kind === "tool" ? "tool:" : ""}${callId}`;
    const known = calls.get(key);
    if (known) return known as K extends "subcall" ? SubcallNode : ToolNode;
    // Only a sub-call has a model that calls tools (a subcallId of "tool:x" must not chain tools under tools).
    const byModel = subcallId === undefined ? undefined : calls.get(`${run.runId}/${subcallId}`);
    const owner = byModel?.kind === "subcall" ? byModel : undefined;
    const parent = owner ?? run.current ?? run;
    const made = add<SubcallNode | ToolNode>({ kind, parent, runId: run.runId, callId }, parent);
    calls.set(key, made);
    return made as K extends "subcall" ? SubcallNode : ToolNode;
  };

  events.forEach((event, seq) => {
    if (typeof event.at === "number" && Number.isFinite(event.at) && event.at > 0) {
      firstAt = Math.min(firstAt, event.at);
      lastAt = Math.max(lastAt, event.at);
    }
    const run = runOf(event);
    if (event.at > 0) {
      run.firstAt = run.firstAt > 0 ? Math.min(run.firstAt, event.at) : event.at;
      run.lastAt = Math.max(run.lastAt, event.at);
    }
    switch (event.type) {
      case "run-start":
        run.start = event;
        break;
      case "run-end":
        run.end = event;
        run.current = undefined;
        break;
      case "iteration-start":
        run.current = add<IterationNode>(
          { kind: "iteration", parent: run, runId: run.runId, iteration: event.iteration, start: event },
          run,
        );
        break;
      case "iteration-end": {
        const open = run.current?.iteration === event.iteration ? run.current : undefined;
        const iteration =
          open ??
          add<IterationNode>(
            { kind: "iteration", parent: run, runId: run.runId, iteration: event.iteration },
            run,
          );
        iteration.end = event;
        run.current = undefined;
        addCells(iteration, event, add);
        break;
      }
      case "subcall-start":
      case "subcall-end": {
        const node = callNode("subcall", run, event.callId);
        if (event.type === "subcall-start") node.start = event;
        else {
          node.end = event;
          node.endSeq = seq;
        }
        break;
      }
      case "tool-start":
      case "tool-end": {
        const node = callNode("tool", run, event.callId, event.subcallId);
        if (event.type === "tool-start") node.start = event;
        else {
          node.end = event;
          node.endSeq = seq;
        }
        break;
      }
      case "memory":
        add<MemoryNode>({ kind: "memory", parent: run, runId: run.runId, event }, run);
        break;
      case "compaction":
      case "verification":
        add<NoteNode>({ kind: "note", parent: run, runId: run.runId, event }, run);
        break;
      case "privacy-audit":
        run.audits++;
        break;
    }
  });
  const known = Number.isFinite(firstAt);
  return { nodes, roots, firstAt: known ? firstAt : 0, lastAt: known ? lastAt : 0 };
}

/**
 * Adds an ended iteration's cells and moves the calls made during the iteration under the cell that made them.
 * Cells run one after another and the iteration ends right after the last one, so each cell's start is
 * estimated backwards from the iteration's end; a call belongs to the last cell that started before it. Without
 * usable times (an official log stamps the whole iteration with one time) calls stay under the iteration, unless
 * it had a single cell.
 */
function addCells(
  iteration: IterationNode,
  event: IterationEndEvent,
  add: <T extends TraceNode>(node: Omit<T, "id" | "children">, parent: TraceNode | undefined) => T,
): void {
  // An agent's label cell (see step-label.ts) ran nothing: the iteration shows it as its label, the calls stay under it.
  if (event.cells.length === 0 || stepLabel(event) !== undefined) return;
  const direct = iteration.children.filter(
    (child): child is SubcallNode | ToolNode => child.kind === "subcall" || child.kind === "tool",
  );
  const starts: number[] = [];
  let at = event.at;
  for (let index = event.cells.length - 1; index >= 0; index--) {
    at -= event.cells[index]?.durationMs ?? 0;
    starts[index] = at;
  }
  const cells = event.cells.map((cell, index) =>
    add<CellNode>(
      {
        kind: "cell",
        parent: iteration,
        runId: iteration.runId,
        index: index + 1,
        cell,
        startAt: starts[index] ?? at,
      },
      undefined,
    ),
  );
  const timed = iteration.start !== undefined && event.at > iteration.start.at;
  if (!timed && cells.length > 1) {
    iteration.children = [...cells, ...iteration.children];
    for (const cell of cells) cell.parent = iteration;
    return;
  }
  const moved = new Set<TraceNode>();
  for (const call of direct) {
    const callAt = callStartAt(call);
    let owner = 0;
    for (let index = 1; index < cells.length; index++) if ((starts[index] ?? 0) <= callAt) owner = index;
    const cell = cells[owner] as CellNode;
    call.parent = cell;
    cell.children.push(call);
    moved.add(call);
  }
  iteration.children = [...cells, ...iteration.children.filter((child) => !moved.has(child))];
}

/** Epoch ms a sub-call or tool call started: its start event, else its end less its latency. */
export function callStartAt(call: SubcallNode | ToolNode): number {
  if (call.start) return call.start.at;
  if (call.end) return call.end.at - call.end.latencyMs;
  return 0;
}

/** What a node and everything under it spent. */
export interface Totals {
  inputTokens: number;
  outputTokens: number;
  /** The cost of the priced calls; null when none was priced. */
  costUsd: number | null;
  /** Calls with tokens but no price: the cost is a lower bound (or unknown). */
  unpricedCalls: number;
  /** Model calls counted (root calls and sub-calls). */
  calls: number;
  /** Some root calls' tokens are not known (a converted official log): the figures are a lower bound. */
  partial: boolean;
}

/** Usage as events carry it. */
interface Usage {
  inputTokens: number;
  outputTokens: number;
  costUsd: number | null;
}

/**
 * The model call a node itself stands for, with the model it went to: an iteration's root call, an llm_query,
 * or an rlm_query whose child run is not in the trace (when it is, the child's own calls count instead).
 */
export function ownCall(node: TraceNode): { model: string; usage: Usage; unknown: boolean } | undefined {
  if (node.kind === "iteration" && node.end) {
    const run = runOfNode(node);
    return {
      model: run?.start?.model ?? "unknown",
      usage: node.end.usage,
      unknown: node.end.usageUnknown === true,
    };
  }
  if (node.kind === "subcall" && node.end) {
    const hasChild = node.children.some((child) => child.kind === "run");
    if (node.end.kind === "rlm_query" && hasChild) return undefined;
    return { model: node.end.model, usage: node.end.usage, unknown: false };
  }
  return undefined;
}

function runOfNode(node: TraceNode): RunNode | undefined {
  let at: TraceNode | undefined = node;
  while (at && at.kind !== "run") at = at.parent;
  return at;
}

function emptyTotals(): Totals {
  return { inputTokens: 0, outputTokens: 0, costUsd: null, unpricedCalls: 0, calls: 0, partial: false };
}

function addUsage(totals: Totals, usage: Usage, unknown: boolean): void {
  totals.inputTokens += usage.inputTokens;
  totals.outputTokens += usage.outputTokens;
  totals.calls++;
  totals.partial ||= unknown;
  if (usage.costUsd !== null) totals.costUsd = (totals.costUsd ?? 0) + usage.costUsd;
  else if (usage.inputTokens + usage.outputTokens > 0 || unknown) totals.unpricedCalls++;
}

/** The totals of every node (its own call plus everything under it), by node id; linear in the tree's size. */
export function treeTotals(tree: RunTree): Totals[] {
  const totals: Totals[] = new Array(tree.nodes.length);
  // Children before parents: walk from the roots, then fold in reverse visiting order.
  const order: TraceNode[] = [];
  const stack: TraceNode[] = [...tree.roots];
  while (stack.length > 0) {
    const node = stack.pop() as TraceNode;
    order.push(node);
    for (const child of node.children) stack.push(child);
  }
  for (let index = order.length - 1; index >= 0; index--) {
    const node = order[index] as TraceNode;
    const own = emptyTotals();
    const call = ownCall(node);
    if (call) addUsage(own, call.usage, call.unknown);
    for (const child of node.children) {
      const sum = totals[child.id];
      if (sum === undefined) continue;
      own.inputTokens += sum.inputTokens;
      own.outputTokens += sum.outputTokens;
      if (sum.costUsd !== null) own.costUsd = (own.costUsd ?? 0) + sum.costUsd;
      own.unpricedCalls += sum.unpricedCalls;
      own.calls += sum.calls;
      own.partial ||= sum.partial;
    }
    totals[node.id] = own;
  }
  for (let id = 0; id < totals.length; id++) totals[id] ??= emptyTotals();
  return totals;
}

/** The totals of each model of the trace (root calls count for the run's model), largest input first. */
export function modelTotals(tree: RunTree): Array<Totals & { model: string }> {
  const byModel = new Map<string, Totals & { model: string }>();
  for (const node of tree.nodes) {
    const call = ownCall(node);
    if (call === undefined) continue;
    let entry = byModel.get(call.model);
    if (entry === undefined) {
      entry = { model: call.model, ...emptyTotals() };
      byModel.set(call.model, entry);
    }
    addUsage(entry, call.usage, call.unknown);
  }
  return [...byModel.values()].sort((a, b) => b.inputTokens - a.inputTokens);
}
