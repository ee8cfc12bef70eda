/**
 * Run events -> OpenTelemetry spans, following the GenAI semantic conventions:
 *
 *   invoke_agent rlm                  a run (root or child): depth, run id, status; error status at a limit
 *     rlm.iteration                   one root-model turn; its code cells are span events (rlm.cell)
 *       chat {model}                  the root model's call of the turn (usage from iteration-end)
 *       chat {model}                  an llm_query sub-call (usage from subcall-end)
 *         execute_tool {name}         a sub-tool the sub-model called inside that llm_query
 *       execute_tool rlm_query        an rlm_query sub-call...
 *         invoke_agent rlm            ...is the parent of the child run
 *       execute_tool {name}           a user tool called by the code (agent runs: a tool of the step)
 *
 * Token usage and cost sit only on `chat` spans, the leaves that are model calls, so summing them over a trace
 * counts every call once (an rlm_query span and a run span carry none, though the events give them totals).
 * Spans take the events' own times (`at`, and the latencies for the root call). Parents come from the ids in
 * the events (runId, parentCallId, subcallId), never from timing, so parallel sub-calls nest correctly.
 * Content (the question, replies, code, outputs, tool arguments and results, answers) is added only when
 * `captureContent` is set, redacted of secrets; error lines always are redacted.
 */
import {
  type Attributes,
  type Context,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type Tracer,
  trace,
} from "@opentelemetry/api";
import type {
  IterationEndEvent,
  RunEvent,
  RunStartEvent,
  SubcallEndEvent,
  SubcallStartEvent,
  ToolEndEvent,
  ToolStartEvent,
} from "../engine/run-events.ts";
import type { CallUsage } from "../models/usage.ts";
import { ERROR_TYPE, GEN_AI, OPERATION, RLM } from "./gen-ai-attributes.ts";
import { type ModelName, modelAttributes, modelName } from "./model-attributes.ts";
import { asText, CONTENT_LIMIT, cutText, errorLine, messagesAttribute } from "./span-content.ts";

export interface RunSpansOptions {
  tracer: Tracer;
  /** gen_ai.agent.name of run spans ("rlm"; the agent's "rlm-agent"). */
  agentName: string;
  /** Add prompts, replies, code, outputs and answers (redacted). */
  captureContent: boolean;
  /** Values to redact besides the key-shaped strings redactSecrets finds itself. */
  secrets: readonly string[];
  /** Parent of root runs (a server's request span); none: each root run starts its own trace. */
  parent?: Context;
}

/** A span we opened and have not ended yet, with what its children need. */
interface OpenSpan {
  span: Span;
  context: Context;
  /** The root run of its tree: what is closed when that root ends. */
  tree: string;
  startedAt: number;
}

interface IterationState extends OpenSpan {
  number: number;
  /** When its first sub-call or tool started: the root model's call had returned by then. */
  firstChildAt?: number;
}

interface RunState extends OpenSpan {
  depth: number;
  model: ModelName;
  iteration?: IterationState;
}

export interface RunSpans {
  write(event: RunEvent): void;
  /** Ends every span still open (marked rlm.unfinished): the sink is closing. */
  endAll(at: number): void;
}

/** A duration from an event, or 0 when a hand-made or damaged trace lacks it (a span's time must be a number). */
const ms = (value: unknown): number =>
  typeof value === "number" && Number.isFinite(value) && value > 0 ? value : 0;

export function createRunSpans(options: RunSpansOptions): RunSpans {
  const { tracer, secrets } = options;
  const content = options.captureContent;
  const runs = new Map<string, RunState>();
  /** Sub-calls by callId (unique ids), tools by runId + callId (the agent's ids come from the model). */
  const subcalls = new Map<string, OpenSpan>();
  const tools = new Map<string, OpenSpan>();

  const start = (name: string, kind: SpanKind, parent: Context, at: number, attributes: Attributes) => {
    const span = tracer.startSpan(name, { kind, startTime: at, attributes }, parent);
    return { span, context: trace.setSpan(parent, span) };
  };
  const end = (open: OpenSpan, at: number) => open.span.end(Math.max(at, open.startedAt));
  const fail = (span: Span, type: string, message: string | undefined) => {
    span.setAttribute(ERROR_TYPE, type);
    span.setStatus({
      code: SpanStatusCode.ERROR,
      ...(message ? { message: errorLine(message, secrets) } : {}),
    });
  };
  const ids = (event: RunEvent): Attributes => ({ [RLM.runId]: event.runId, [RLM.depth]: event.depth });
  /** The span new children of a run hang under: its open iteration, else the run itself. */
  const scopeOf = (run: RunState): OpenSpan => run.iteration ?? run;

  const startRun = (event: RunEvent, model: string, attributes: Attributes): RunState => {
    const parentCall = event.parentCallId === undefined ? undefined : subcalls.get(event.parentCallId);
    const parentRun = event.parentRunId === undefined ? undefined : runs.get(event.parentRunId);
    const parent = parentCall ?? (parentRun ? scopeOf(parentRun) : undefined);
    const name = modelName(model);
    const opened = start(
      `${OPERATION.invokeAgent} ${options.agentName}`,
      SpanKind.INTERNAL,
      parent?.context ?? options.parent ?? ROOT_CONTEXT,
      event.at,
      {
        [GEN_AI.operationName]: OPERATION.invokeAgent,
        [GEN_AI.agentName]: options.agentName,
        ...modelAttributes(name),
        ...ids(event),
        ...(event.parentRunId ? { [RLM.parentRunId]: event.parentRunId } : {}),
        ...(event.parentCallId ? { [RLM.parentCallId]: event.parentCallId } : {}),
        ...attributes,
      },
    );
    const run: RunState = {
      ...opened,
      tree: parent?.tree ?? event.runId,
      startedAt: event.at,
      depth: event.depth,
      model: name,
    };
    runs.set(event.runId, run);
    return run;
  };
  /** The run of an event; a run whose start this sink never saw (attached late) gets a span from now. */
  const runOf = (event: RunEvent): RunState => runs.get(event.runId) ?? startRun(event, "unknown", {});

  const usageAttributes = (usage: CallUsage): Attributes => ({
    [GEN_AI.usageInputTokens]: usage.inputTokens,
    [GEN_AI.usageOutputTokens]: usage.outputTokens,
    ...(usage.cachedInputTokens > 0 ? { [GEN_AI.usageCacheReadInputTokens]: usage.cachedInputTokens } : {}),
    ...(usage.costUsd === null ? {} : { [RLM.costUsd]: usage.costUsd }),
  });

  const onRunStart = (event: RunStartEvent) => {
    if (runs.has(event.runId)) return;
    startRun(event, event.model, {
      [RLM.subModel]: event.subModel,
      [RLM.contextChars]: event.contextChars,
      ...(content ? messagesAttribute("input", "user", event.query, secrets) : {}),
    });
  };

  const endIteration = (run: RunState, at: number, unfinished: boolean) => {
    const iteration = run.iteration;
    if (iteration === undefined) return;
    if (unfinished) iteration.span.setAttribute(RLM.unfinished, true);
    end(iteration, at);
    run.iteration = undefined;
  };

  const onIterationEnd = (event: IterationEndEvent) => {
    const run = runOf(event);
    if (run.iteration === undefined || run.iteration.number !== event.iteration) {
      // An iteration-end without its start (a converted log): its span starts where its duration says.
      endIteration(run, event.at, true);
      const started = event.at - ms(event.durationMs);
      const opened = start("rlm.iteration", SpanKind.INTERNAL, run.context, started, {
        ...ids(event),
        [RLM.iteration]: event.iteration,
      });
      run.iteration = { ...opened, tree: run.tree, startedAt: started, number: event.iteration };
    }
    const iteration = run.iteration;
    // The call's latency may include work after it (an agent step's tools): what started under the iteration
    // after the reply bounds it too.
    const callEnd = Math.min(
      iteration.startedAt + ms(event.modelLatencyMs),
      iteration.firstChildAt ?? Number.POSITIVE_INFINITY,
      event.at,
    );
    const chat = start(
      `${OPERATION.chat} ${run.model.model}`,
      SpanKind.CLIENT,
      iteration.context,
      iteration.startedAt,
      {
        [GEN_AI.operationName]: OPERATION.chat,
        ...modelAttributes(run.model),
        ...ids(event),
        [RLM.iteration]: event.iteration,
        ...(event.usageUnknown ? { [RLM.usageUnknown]: true } : usageAttributes(event.usage)),
        ...(content ? messagesAttribute("output", "assistant", event.reply, secrets) : {}),
      },
    );
    chat.span.end(Math.max(callEnd, iteration.startedAt));
    let cellAt = callEnd;
    event.cells.forEach((cell, index) => {
      const errorName = cell.error?.split(":")[0];
      iteration.span.addEvent(
        "rlm.cell",
        {
          "rlm.cell.index": index + 1,
          "rlm.cell.duration_ms": cell.durationMs,
          ...(errorName ? { "rlm.cell.error_type": errorName } : {}),
          ...(content
            ? {
                "rlm.cell.code": cutText(cell.code, CONTENT_LIMIT, secrets),
                "rlm.cell.output": cutText(cell.output, CONTENT_LIMIT, secrets),
                ...(cell.error ? { "rlm.cell.error": errorLine(cell.error, secrets) } : {}),
              }
            : {}),
        },
        Math.min(cellAt, event.at),
      );
      cellAt += ms(cell.durationMs);
    });
    iteration.span.setAttribute(RLM.cells, event.cells.length);
    endIteration(run, event.at, false);
  };

  const onSubcallStart = (event: SubcallStartEvent) => {
    const run = runOf(event);
    const scope = scopeOf(run);
    if (run.iteration) run.iteration.firstChildAt ??= event.at;
    const common = {
      ...ids(event),
      [RLM.callId]: event.callId,
      [RLM.subcallKind]: event.kind,
      [RLM.promptChars]: event.promptChars,
    };
    const opened =
      event.kind === "llm_query"
        ? start(
            `${OPERATION.chat} ${modelName(event.model).model}`,
            SpanKind.CLIENT,
            scope.context,
            event.at,
            {
              [GEN_AI.operationName]: OPERATION.chat,
              ...modelAttributes(modelName(event.model)),
              ...common,
              ...(content && event.prompt !== undefined
                ? messagesAttribute("input", "user", event.prompt, secrets)
                : {}),
            },
          )
        : start(`${OPERATION.executeTool} rlm_query`, SpanKind.INTERNAL, scope.context, event.at, {
            [GEN_AI.operationName]: OPERATION.executeTool,
            [GEN_AI.toolName]: "rlm_query",
            [GEN_AI.toolCallId]: event.callId,
            [GEN_AI.toolType]: "function",
            ...common,
          });
    subcalls.set(event.callId, { ...opened, tree: run.tree, startedAt: event.at });
  };

  const onSubcallEnd = (event: SubcallEndEvent) => {
    let open = subcalls.get(event.callId);
    if (open === undefined) {
      onSubcallStart({ ...event, type: "subcall-start", at: event.at - ms(event.latencyMs) });
      open = subcalls.get(event.callId) as OpenSpan;
    }
    subcalls.delete(event.callId);
    const { span } = open;
    // Usage only on the leaf: an llm_query is one model call (or, with sub-tools, its loop of calls); an
    // rlm_query's usage is its child run's, already on that run's chat spans.
    if (event.kind === "llm_query") span.setAttributes(usageAttributes(event.usage));
    if (content && event.kind === "llm_query" && event.response !== undefined) {
      span.setAttributes(messagesAttribute("output", "assistant", event.response, secrets));
    }
    if (event.cached) span.setAttribute(RLM.cached, true);
    if (event.childRunId) span.setAttribute(RLM.childRunId, event.childRunId);
    if (!event.ok) fail(span, `${event.kind}_error`, event.error);
    end(open, event.at);
  };

  const onToolStart = (event: ToolStartEvent) => {
    const run = runOf(event);
    if (run.iteration) run.iteration.firstChildAt ??= event.at;
    const parent = (event.subcallId ? subcalls.get(event.subcallId) : undefined) ?? scopeOf(run);
    const opened = start(
      `${OPERATION.executeTool} ${event.tool}`,
      SpanKind.INTERNAL,
      parent.context,
      event.at,
      {
        [GEN_AI.operationName]: OPERATION.executeTool,
        [GEN_AI.toolName]: event.tool,
        [GEN_AI.toolCallId]: event.callId,
        [GEN_AI.toolType]: "function",
        ...ids(event),
        ...(event.subcallId ? { [RLM.callId]: event.subcallId } : {}),
        ...(content ? { [GEN_AI.toolCallArguments]: cutText(event.args, CONTENT_LIMIT, secrets) } : {}),
      },
    );
    tools.set(`${event.runId}\n${event.callId}`, { ...opened, tree: run.tree, startedAt: event.at });
  };

  const onToolEnd = (event: ToolEndEvent) => {
    const key = `${event.runId}\n${event.callId}`;
    let open = tools.get(key);
    if (open === undefined) {
      onToolStart({ ...event, type: "tool-start", args: "", at: event.at - ms(event.latencyMs) });
      open = tools.get(key) as OpenSpan;
    }
    tools.delete(key);
    const { span } = open;
    if (event.resultChars !== undefined) span.setAttribute(RLM.resultChars, event.resultChars);
    if (event.unverified) span.setAttribute(RLM.unverified, true);
    if (content && event.output !== undefined) {
      span.setAttribute(GEN_AI.toolCallResult, cutText(event.output, CONTENT_LIMIT, secrets));
    }
    if (!event.ok) fail(span, "tool_error", event.error);
    end(open, event.at);
  };

  /** Ends what is left of a tree (spans whose end event never came) when its root run ends. */
  const endTree = (tree: string, at: number) => {
    for (const map of [tools, subcalls] as Map<string, OpenSpan>[]) {
      for (const [key, open] of map) {
        if (open.tree !== tree) continue;
        open.span.setAttribute(RLM.unfinished, true);
        end(open, at);
        map.delete(key);
      }
    }
    for (const [id, run] of runs) {
      if (run.tree !== tree) continue;
      endIteration(run, at, true);
      run.span.setAttribute(RLM.unfinished, true);
      end(run, at);
      runs.delete(id);
    }
  };

  const onRunEnd = (event: RunEvent & { type: "run-end" }) => {
    const run = runOf(event);
    endIteration(run, event.at, true);
    const { span } = run;
    span.setAttributes({ [RLM.status]: event.status, [RLM.iterations]: event.iterations });
    if (event.status !== "completed") fail(span, event.status, event.error ?? event.status);
    if (content && event.answer !== null && event.answer !== undefined) {
      span.setAttributes(messagesAttribute("output", "assistant", asText(event.answer), secrets));
    }
    end(run, event.at);
    runs.delete(event.runId);
    if (run.tree === event.runId) endTree(run.tree, event.at);
  };

  /** Events that are moments, not spans: on the open iteration, else on the run. */
  const addEvent = (event: RunEvent, name: string, attributes: Attributes) =>
    scopeOf(runOf(event)).span.addEvent(name, attributes, event.at);

  const write = (event: RunEvent) => {
    switch (event.type) {
      case "run-start":
        return onRunStart(event);
      case "iteration-start": {
        const run = runOf(event);
        endIteration(run, event.at, true);
        const opened = start("rlm.iteration", SpanKind.INTERNAL, run.context, event.at, {
          ...ids(event),
          [RLM.iteration]: event.iteration,
        });
        run.iteration = { ...opened, tree: run.tree, startedAt: event.at, number: event.iteration };
        return;
      }
      case "iteration-end":
        return onIterationEnd(event);
      case "subcall-start":
        return onSubcallStart(event);
      case "subcall-end":
        return onSubcallEnd(event);
      case "tool-start":
        return onToolStart(event);
      case "tool-end":
        return onToolEnd(event);
      case "run-end":
        return onRunEnd(event);
      case "memory":
        return addEvent(event, "rlm.memory", {
          "rlm.memory.action": event.action,
          "rlm.memory.items": event.ids.length,
          ...(event.error ? { "rlm.memory.error": errorLine(event.error, secrets) } : {}),
          ...(content && event.query
            ? { "rlm.memory.query": cutText(event.query, CONTENT_LIMIT, secrets) }
            : {}),
        });
      case "compaction":
        return addEvent(event, "rlm.compaction", {
          "rlm.compaction.chars_before": event.charsBefore,
          "rlm.compaction.chars_after": event.charsAfter,
        });
      case "verification":
        // Its usage is a sum of calls already on chat spans: only the count goes here, never gen_ai.usage.*.
        return addEvent(event, "rlm.verification", {
          "rlm.verification.status": event.status,
          "rlm.verification.calls": event.usage.calls,
          ...(content
            ? { "rlm.verification.evidence": cutText(event.evidence, CONTENT_LIMIT, secrets) }
            : {}),
        });
      case "privacy-audit":
        return addEvent(event, "rlm.privacy_audit", {
          "rlm.privacy.model": event.model,
          "rlm.privacy.chars": event.chars,
          "rlm.privacy.redactions": Object.values(event.redactions).reduce<number>(
            (sum, n) => sum + (n ?? 0),
            0,
          ),
        });
      default:
        return; // An event this version does not know: nothing to map.
    }
  };

  const endAll = (at: number) => {
    for (const tree of new Set([...runs.values()].map((run) => run.tree))) endTree(tree, at);
    for (const map of [tools, subcalls]) {
      for (const open of map.values()) {
        open.span.setAttribute(RLM.unfinished, true);
        end(open, at);
      }
      map.clear();
    }
  };

  return { write, endAll };
}
