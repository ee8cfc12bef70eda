import { randomUUID } from "node:crypto";
import type { ModelMessage } from "ai";
import { z } from "zod";
import { bindContext } from "../context/context-bindings.ts";
import { type ContextInput, describeContext } from "../context/context-input.ts";
import type { FileText } from "../context/file-text.ts";
import { ModelCallError } from "../errors/model-call-error.ts";
import type { Memory } from "../memory/memory.ts";
import { contextWindowOf } from "../models/context-windows.ts";
import { asModelClient, type ModelClient } from "../models/model-client.ts";
import { type ModelSettings, settingsForModel } from "../models/model-settings.ts";
import type { PriceTable } from "../models/prices.ts";
import type { LanguageModelInstance } from "../models/resolve-model.ts";
import type { ResponseCache } from "../models/response-cache.ts";
import { type CallUsage, emptyUsageTotals, type UsageTotals } from "../models/usage.ts";
import { createIsolatedVmSandbox, DEFAULT_LIMITS } from "../sandboxes/isolated-vm/isolated-vm-sandbox.ts";
import { limitOutput } from "../sandboxes/output-limit.ts";
import { eventStream } from "../shared/event-stream.ts";
import { Semaphore } from "../shared/semaphore.ts";
import type { CellResult, Sandbox, SandboxLimits, SandboxSession } from "../spec/sandbox.ts";
import type { StandardSchemaV1 } from "../spec/standard-schema.ts";
import type { Tools } from "../spec/tool.ts";
import { answerText } from "./answer-text.ts";
import { Budget } from "./budget.ts";
import { compactHistory } from "./compact-history.ts";
import { BudgetRefusal, meteredGenerate, requirePrices } from "./metered-call.ts";
import { extractCodeBlocks, findProseFinal, proseOf } from "./parse-reply.ts";
import { type PrivacyOptions, PrivacyPolicy, type PrivacySession } from "./privacy/privacy.ts";
import { firstMessage, lastCallMessage, nudge, type PromptStyle, systemPrompt } from "./prompts.ts";
import { createReplFunctions } from "./repl-functions.ts";
import { RLMSession, type SessionOptions, type SessionRepl } from "./rlm-session.ts";
import type { IterationEndEvent, MemoryEvent, RunEvent, RunEventListener } from "./run-events.ts";
import type { RunLearner } from "./run-learner.ts";
import { DEFAULT_RUN_LIMITS, type RunLimits, validateLimits } from "./run-limits.ts";
import {
  DEFAULT_RECALL,
  type MemoryUse,
  memoryFunctions,
  recall,
  recalledBlock,
  storeRun,
} from "./run-memory.ts";
import { bindRunTools, prepareRunTools, type RunToolSet, toolPromptEntries } from "./run-tools.ts";
import {
  COMPACTION_HISTORY,
  type CompactionMode,
  conversationChars,
  messagesAsData,
  restartMessage,
  SUMMARY_AT,
  summaryRequest,
} from "./summary-compaction.ts";
import {
  evidenceText,
  sameAnswer,
  VERIFICATION_TURNS,
  type Verification,
  verificationRequest,
} from "./verification.ts";

export type ModelInput = string | LanguageModelInstance | ModelClient;

export type RunStatus =
  | "completed"
  | "max_iterations"
  | "budget_exceeded"
  | "timeout"
  | "cancelled"
  | "failed";

export interface RLMOptions {
  /** The root model: it writes the code. */
  model: ModelInput;
  /** The model llm_query calls (default: the root model). */
  subModel?: ModelInput;
  /** More models that `llm_query(prompt, { model: name })` may route to. */
  models?: Record<string, ModelInput>;
  /** Where code runs (default: isolated-vm). */
  sandbox?: Sandbox;
  limits?: RunLimits;
  /** Per-cell sandbox limits (CPU time, memory, output size). */
  sandboxLimits?: SandboxLimits;
  /**
   * For model spec strings: base URL and key when the environment does not hold them. They are the root model's;
   * another model gets them only when it is of the same provider (a key never goes to another provider's host).
   */
  settings?: ModelSettings;
  /** Base URL and key of the sub-model, when it needs its own. */
  subModelSettings?: ModelSettings;
  /** Base URL and key of named models, by name. */
  modelSettings?: Record<string, ModelSettings>;
  prices?: PriceTable;
  /** On-disk (or any) cache of model responses, for reproducible runs. */
  responseCache?: ResponseCache;
  /** Time one attempt of a model call may take, in ms (default 600,000), for models given as spec strings. */
  callTimeoutMs?: number;
  /** Retries of a model call after the first attempt (default 3), for models given as spec strings. */
  maxRetries?: number;
  /** Context windows in tokens, by `provider:modelId` or modelId, for models the built-in table lacks. */
  contextWindows?: Record<string, number>;
  /** Prefix sub-call prompts with the overall question (default true). */
  goalHeader?: boolean;
  /** Answer identical sub-calls of one run from a cache (default true). */
  subcallCache?: boolean;
  /** The way of finishing the system prompt teaches (default "rlmkit"); all ways are accepted anyway. */
  promptStyle?: PromptStyle;
  /**
   * Durable memory: the items that best fit the query go into the first message (as data), the REPL gets
   * memory_search(query, k?) and memory_add(text, key?), and each root run's question and answer is stored as an
   * episode.
   */
  memory?: Memory;
  /** Items recalled into the first message (default 5; 0 recalls nothing). */
  memoryRecall?: number;
  /** Learn from runs (case bank, playbook): each adds to the first message and hears how the run ended. */
  learners?: RunLearner[];
  /**
   * When the root conversation nears the root model's window: "summary" (default) asks the model for a summary
   * and restarts from it, keeping the earlier messages in the REPL as `compaction_history`; "trim" only
   * shortens the oldest outputs.
   */
  compaction?: CompactionMode;
  /** Before a final answer is accepted, a verification turn checks it against the context with code. */
  verify?: boolean;
  /**
   * The user's own functions in the REPL, by name: `{ lookup_price: { description, parameters?, execute } }` (an
   * AI SDK `tool()` as it is). Listed in the system prompt; each call runs on the host with copies in and out,
   * a time limit, the cell's cancellation, `limits.maxToolCalls`, and tool-start / tool-end events.
   */
  tools?: Tools;
  /** Tools the sub-models of llm_query may call, through the models' own tool calls (the official custom_sub_tools). */
  subTools?: Tools;
  /** Time one tool call may take, in ms (default 60,000). */
  toolTimeoutMs?: number;
  /** Model calls one llm_query may make when there are sub-tools (default 8). */
  subToolSteps?: number;
  /**
   * Privacy mode (`{ mode: "local" }`): raw context goes only to local models. The sub-model, named models and the
   * memory's embedder must be local (else a ConfigError here); everything sent to a model that is not local (the
   * root, when hosted) is redacted first and written to the audit (`onAudit`, `privacy-audit` events), and the
   * context's preview is withheld from it. See privacy/privacy.ts.
   */
  privacy?: PrivacyOptions;
  onEvent?: RunEventListener;
}

export interface RunRequest {
  context: ContextInput | FileText;
  query: string;
  /** Validates the final value (zod or any Standard Schema); on a mismatch the model is told and tries again. */
  schema?: StandardSchemaV1;
  signal?: AbortSignal;
}

export interface RunResult {
  /** The final answer (a string, or the value given to FINAL); null when the run ended without one. */
  answer: unknown;
  status: RunStatus;
  usage: { total: UsageTotals; byModel: Record<string, UsageTotals> };
  iterations: number;
  subcalls: number;
  /** Deepest run depth reached (0: only the root ran). */
  depth: number;
  durationMs: number;
  trace: RunEvent[];
  /** Why the run ended early, when it did. */
  error?: string;
  /** When the run ended without an answer: the prose of the root model's last reply. */
  partialAnswer?: string;
  /** Honest notes on the totals (a server counted more than was reserved; usage estimated for cancelled calls). */
  warnings?: string[];
  /** With `verify`: whether the answer held when checked against the context. */
  verification?: Verification;
  /** The root run's id: what `rlm feedback RUN_ID` and `feedback(runId, reward)` take. */
  runId?: string;
}

/** What all runs of one tree share. */
interface RunTree {
  budget: Budget;
  semaphore: Semaphore;
  /** Child runs in flight at each depth (at most `concurrency` each; per depth, so a parent never blocks its children). */
  childSlots: Map<number, Semaphore>;
  cache: Map<string, Promise<string>> | undefined;
  events: RunEvent[];
  listeners: RunEventListener[];
  /** Notes for RunResult.warnings beside the budget's (a memory that could not be written). */
  warnings: string[];
  /** memory_add and memory_search calls of the whole tree, against their allowances. */
  memoryUse: MemoryUse;
  /** Privacy mode: the tree's redaction (stable placeholders across its runs) and audit. */
  privacy?: PrivacySession;
}

interface RunOutcome {
  answer: unknown;
  status: RunStatus;
  /** Set by runNode: the id of the run this outcome is of. */
  runId?: string;
  iterations: number;
  /** What this run and its children spent. */
  usage?: CallUsage;
  error?: string;
  partialAnswer?: string;
  verification?: Verification;
}

/** The signal of the cell running now (the run's own between cells): sub-calls made by code take it. */
interface CellScope {
  signal: AbortSignal;
}

/**
 * FINAL with nothing in it (FINAL(), FINAL(undefined), FINAL(null) or None, FINAL(NaN), which JSON carries as null)
 * is not an answer: the run goes on and the model is told, instead of completing with no answer.
 */
function isNoAnswer(value: unknown): boolean {
  return value === undefined || value === null || (typeof value === "number" && Number.isNaN(value));
}

const NO_ANSWER_NOTE =
  "FINAL was called without an answer (nothing, undefined, null/None or NaN), so the run goes on: call FINAL with the answer itself, e.g. FINAL(result).";

/** The answer schema as JSON Schema text for the prompt, when it can be rendered (zod; JSON Schema files). */
function schemaText(schema: StandardSchemaV1 | undefined): string | undefined {
  if (schema === undefined || schema["~standard"].vendor !== "zod") return undefined;
  try {
    const text = JSON.stringify(z.toJSONSchema(schema as unknown as z.ZodType));
    return text.length > 4_000 ? `${text.slice(0, 4_000)}...` : text;
  } catch {
    return undefined;
  }
}

/** The fenced-block tags each sandbox language runs. */
const FENCE_TAGS = { javascript: ["repl", "js", "javascript"], python: ["repl", "python", "py"] } as const;

/**
 * A cell's output and error as the root model reads them. Whatever the sandbox (a user's own one included) hands
 * back, output and error together stay within the output limit: the error gets what the output left, at least
 * 200 characters, and the output is cut further to make room for it.
 */
function formatCell(index: number, cell: CellResult, limit: number): string {
  let output = limitOutput(cell.output, limit).output;
  let error: string | undefined;
  if (cell.error) {
    error = limitOutput(
      `${String(cell.error.name)}: ${String(cell.error.message)}`,
      Math.max(200, limit - output.length),
    ).output;
    if (output.length + error.length > limit)
      output = limitOutput(output, Math.max(2, limit - error.length)).output;
  }
  const parts = [`[cell ${index} output]`, output === "" ? "(no output)" : output.replace(/\n$/, "")];
  if (cell.error) {
    const where = cell.error.line === undefined ? "" : `, line ${cell.error.line}`;
    parts.push(`[cell ${index} error${where}] ${error}`);
  }
  return parts.join("\n");
}

async function validate(
  schema: StandardSchemaV1 | undefined,
  value: unknown,
): Promise<{ ok: true; value: unknown } | { ok: false; problems: string }> {
  if (schema === undefined) return { ok: true, value };
  const attempt = async (candidate: unknown) => schema["~standard"].validate(candidate);
  let result = await attempt(value);
  if (result.issues && typeof value === "string") {
    try {
      const parsed = await attempt(JSON.parse(value));
      if (!parsed.issues) result = parsed;
    } catch {
      // not JSON: keep the first result
    }
  }
  if (!result.issues) return { ok: true, value: result.value };
  const problems = result.issues
    .map((issue) => {
      const path = (issue.path ?? [])
        .map((part) => String(typeof part === "object" ? part.key : part))
        .join(".");
      return path === "" ? issue.message : `${path}: ${issue.message}`;
    })
    .join("; ");
  return { ok: false, problems };
}

/**
 * A Recursive Language Model: the root model answers a question about a context of any size by writing code
 * in a sandboxed REPL that holds the context, and by calling sub-models from that code.
 */
export class RLM {
  private readonly options: RLMOptions;
  private readonly root: ModelClient;
  private readonly sub: ModelClient;
  private readonly named: Record<string, ModelClient>;
  private readonly sandbox: Sandbox;
  private readonly limits: RunLimits & typeof DEFAULT_RUN_LIMITS;
  private readonly tools: RunToolSet;
  private readonly privacy: PrivacyPolicy | undefined;

  /** Throws a UsageError for invalid limits and a ConfigError for a cost limit over a model of unknown price. */
  constructor(options: RLMOptions) {
    validateLimits({ run: options.limits, sandbox: options.sandboxLimits });
    this.options = options;
    this.root = this.client(options.model, options.settings);
    this.sub =
      options.subModel === undefined
        ? this.root
        : this.client(
            options.subModel,
            settingsForModel(options.subModel, options.model, options.settings, options.subModelSettings),
          );
    this.named = Object.fromEntries(
      Object.entries(options.models ?? {}).map(([name, model]) => [
        name,
        this.client(
          model,
          settingsForModel(model, options.model, options.settings, options.modelSettings?.[name]),
        ),
      ]),
    );
    this.sandbox = options.sandbox ?? createIsolatedVmSandbox();
    this.tools = prepareRunTools(options, this.sandbox.language);
    this.privacy =
      options.privacy === undefined
        ? undefined
        : new PrivacyPolicy(options.privacy, {
            root: this.root,
            sub: this.sub,
            named: this.named,
            ...(options.memory?.embedder ? { embedder: options.memory.embedder.label } : {}),
            connections: options,
          });
    this.limits = { ...DEFAULT_RUN_LIMITS, ...options.limits };
    if (this.limits.maxCostUsd !== undefined)
      requirePrices([this.root, this.sub, ...Object.values(this.named)]);
  }

  private client(model: ModelInput, settings: ModelSettings | undefined): ModelClient {
    return asModelClient(model, {
      settings,
      prices: this.options.prices,
      cache: this.options.responseCache,
      ...(this.options.callTimeoutMs === undefined ? {} : { timeoutMs: this.options.callTimeoutMs }),
      ...(this.options.maxRetries === undefined ? {} : { maxRetries: this.options.maxRetries }),
    });
  }

  /** When a reply's only code is in another language than the sandbox's, say so instead of a plain nudge. */
  private wrongLanguageNote(reply: string): string | undefined {
    const language = this.sandbox.language;
    const other = language === "python" ? FENCE_TAGS.javascript : FENCE_TAGS.python;
    const foreign = extractCodeBlocks(
      reply,
      other.filter((tag) => tag !== "repl"),
    );
    if (foreign.length === 0) return undefined;
    const name = language === "python" ? "Python" : "JavaScript";
    return `Your reply's code was not run: this REPL runs ${name}, and the block was tagged ${foreign[0]?.language}. Rewrite it in ${name} in a \`\`\`repl block.`;
  }

  /** Runs to the end and resolves to the result (never rejects for model or code failures). */
  run(request: RunRequest): Promise<RunResult> {
    return this.runWith(request, []);
  }

  /** A conversation whose REPL lives across questions: `session.ask({ query, context? })` (see RLMSession). */
  session(options: SessionOptions = {}): RLMSession {
    return new RLMSession(this, this.sandbox, options);
  }

  /** @internal One turn of an RLMSession: a run whose REPL the session opens once and keeps open. */
  runTurn(request: RunRequest, repl: SessionRepl): Promise<RunResult> {
    return this.runWith(request, [], repl);
  }

  private async runWith(
    request: RunRequest,
    listeners: RunEventListener[],
    repl?: SessionRepl,
  ): Promise<RunResult> {
    const started = performance.now();
    try {
      return await this.runTree(request, listeners, started, repl);
    } catch (error) {
      // run() never rejects: whatever escaped becomes a failed result.
      return {
        answer: null,
        status: "failed",
        usage: { total: emptyUsageTotals(), byModel: {} },
        iterations: 0,
        subcalls: 0,
        depth: 0,
        durationMs: performance.now() - started,
        trace: [],
        error: error instanceof Error ? error.message : String(error),
      };
    }
  }

  private async runTree(
    request: RunRequest,
    listeners: RunEventListener[],
    started: number,
    repl?: SessionRepl,
  ): Promise<RunResult> {
    const tree: RunTree = {
      budget: new Budget(this.limits, request.signal),
      semaphore: new Semaphore(this.limits.concurrency),
      childSlots: new Map(),
      cache: this.options.subcallCache === false ? undefined : new Map(),
      events: [],
      listeners: this.options.onEvent ? [this.options.onEvent, ...listeners] : listeners,
      warnings: [],
      memoryUse: { adds: 0, searches: 0 },
      ...(this.privacy ? { privacy: this.privacy.session((event) => this.emit(tree, event)) } : {}),
    };
    const outcome = await this.runNode(
      request,
      tree,
      0,
      undefined,
      undefined,
      undefined,
      undefined,
      repl,
    ).finally(() => tree.budget.release());
    const { budget } = tree;
    const warnings = [...budget.notes(), ...tree.warnings];
    return {
      answer: outcome.answer,
      status: outcome.status,
      usage: { total: budget.total, byModel: Object.fromEntries(budget.byModel) },
      iterations: outcome.iterations,
      subcalls: budget.subcalls,
      depth: budget.deepestDepth,
      durationMs: performance.now() - started,
      trace: tree.events,
      ...(outcome.error === undefined ? {} : { error: outcome.error }),
      ...(outcome.partialAnswer === undefined ? {} : { partialAnswer: outcome.partialAnswer }),
      ...(warnings.length === 0 ? {} : { warnings }),
      ...(outcome.verification ? { verification: outcome.verification } : {}),
      ...(outcome.runId ? { runId: outcome.runId } : {}),
    };
  }

  /** The same run as a stream of events; `result` resolves when it ends. */
  stream(request: RunRequest): AsyncIterable<RunEvent> & { result: Promise<RunResult> } {
    return eventStream<RunEvent, RunResult>((listener) => this.runWith(request, [listener]));
  }

  private emit(tree: RunTree, event: RunEvent): void {
    tree.events.push(event);
    for (const listener of tree.listeners) listener(event);
  }

  private async runNode(
    request: RunRequest,
    tree: RunTree,
    depth: number,
    parentRunId: string | undefined,
    parentCallId: string | undefined,
    parentAccount: ((usage: CallUsage) => void) | undefined,
    parentSignal: AbortSignal | undefined,
    /** A session's REPL: opened through it instead of the sandbox, and left open at the end. */
    repl?: SessionRepl,
  ): Promise<RunOutcome> {
    const runId = randomUUID();
    // Ends this run's sub-calls (and child runs) still in flight when it finishes, e.g. after FINAL.
    const ending = new AbortController();
    const signal = AbortSignal.any([
      tree.budget.signal,
      ending.signal,
      ...(parentSignal ? [parentSignal] : []),
    ]);
    const inFlight = new Set<Promise<unknown>>();
    // Sub-calls belong to the cell that made them: the sandbox drops answers that arrive after their cell ended,
    // so the calls are cancelled (and booked) when it ends rather than spending for nobody.
    const cellScope: CellScope = { signal };
    const spent: CallUsage = { inputTokens: 0, outputTokens: 0, cachedInputTokens: 0, costUsd: 0 };
    const account = (usage: CallUsage) => {
      spent.inputTokens += usage.inputTokens;
      spent.outputTokens += usage.outputTokens;
      spent.cachedInputTokens += usage.cachedInputTokens;
      spent.costUsd = spent.costUsd === null || usage.costUsd === null ? null : spent.costUsd + usage.costUsd;
      parentAccount?.(usage);
    };
    const record = (model: string, usage: CallUsage) => {
      tree.budget.record(model, usage);
      account(usage);
    };
    const started = performance.now();
    const base = {
      runId,
      depth,
      ...(parentRunId ? { parentRunId } : {}),
      ...(parentCallId ? { parentCallId } : {}),
    };
    const { budget } = tree;
    budget.deepestDepth = Math.max(budget.deepestDepth, depth);
    const metadata = describeContext(request.context);
    this.emit(tree, {
      type: "run-start",
      at: Date.now(),
      ...base,
      query: request.query,
      model: this.root.label,
      subModel: this.sub.label,
      contextChars: metadata.chars,
    });
    const finish = (ended: RunOutcome): RunOutcome => {
      const outcome = { ...ended, usage: spent, runId };
      this.emit(tree, {
        type: "run-end",
        at: Date.now(),
        ...base,
        status: outcome.status,
        answer: outcome.answer,
        iterations: outcome.iterations,
        durationMs: performance.now() - started,
        ...(outcome.error === undefined ? {} : { error: outcome.error }),
      });
      return outcome;
    };

    const memory = this.options.memory;
    const emitMemory = (event: Omit<MemoryEvent, "runId" | "depth" | "at" | "type" | "parentRunId">) =>
      this.emit(tree, { type: "memory", at: Date.now(), ...base, ...event });
    const recalled =
      memory && depth === 0 && (this.options.memoryRecall ?? DEFAULT_RECALL) > 0
        ? recalledBlock(
            await recall(memory, request.query, this.options.memoryRecall ?? DEFAULT_RECALL, emitMemory),
          )
        : "";
    const learners = depth === 0 ? (this.options.learners ?? []) : [];
    const learned = (
      await Promise.all(
        learners.map((learner) => learner.prepare({ runId, query: request.query, signal }).catch(() => "")),
      )
    ).join("");
    const recursive = depth + 1 < this.limits.maxDepth;
    const windowOf = (client: ModelClient) =>
      contextWindowOf(client.resolved.provider, client.resolved.modelId, this.options.contextWindows);
    const bindings = bindContext(request.context, this.sandbox.language);
    const userTools = bindRunTools(this.tools, {
      ...base,
      budget,
      emit: (event) => this.emit(tree, event),
      record,
      inFlight,
      signal: () => cellScope.signal,
    });
    const replFunctions = createReplFunctions({
      query: request.query,
      runId,
      ...(parentRunId ? { parentRunId } : {}),
      depth,
      budget,
      semaphore: tree.semaphore,
      subModel: this.sub,
      models: this.named,
      windowOf,
      goalHeader: this.options.goalHeader !== false,
      cache: tree.cache,
      emit: (event) => this.emit(tree, event),
      record,
      signal: () => cellScope.signal,
      track: (work) => {
        inFlight.add(work);
        void work.then(
          () => inFlight.delete(work),
          () => inFlight.delete(work),
        );
      },
      ...(userTools.toolLoop ? { toolLoop: userTools.toolLoop } : {}),
      ...(recursive
        ? {
            runChild: async (prompt: string, subContext: unknown, callId: string) => {
              let slots = tree.childSlots.get(depth + 1);
              if (slots === undefined) {
                slots = new Semaphore(this.limits.concurrency);
                tree.childSlots.set(depth + 1, slots);
              }
              const child = await slots.run(() =>
                this.runNode(
                  {
                    context: (subContext ?? request.context) as ContextInput,
                    query: prompt,
                    signal: request.signal,
                  },
                  tree,
                  depth + 1,
                  runId,
                  callId,
                  account,
                  cellScope.signal,
                ),
              );
              const usage = child.usage ?? {
                inputTokens: 0,
                outputTokens: 0,
                cachedInputTokens: 0,
                costUsd: 0,
              };
              if (child.answer === null || child.answer === undefined) {
                const why = child.error ? `: ${child.error}` : "";
                return { answer: `[rlm_query ended ${child.status} without an answer${why}]`, usage };
              }
              return { answer: answerText(child.answer), usage };
            },
          }
        : {}),
    });

    // The context goes into the sandbox while the first root call is in flight: with a real model its reply
    // takes seconds, which hides the loading. A sandbox that fails to start ends the run (and that call) at once.
    let sessionError: string | undefined;
    const sessionReady: Promise<SandboxSession | undefined> = (repl ?? this.sandbox)
      .create({
        globals: bindings.globals,
        hostFunctions: {
          ...userTools.hostFunctions,
          ...bindings.hostFunctions,
          ...replFunctions,
          ...(memory
            ? memoryFunctions({
                memory,
                runId,
                emit: emitMemory,
                use: tree.memoryUse,
                signal: () => cellScope.signal,
                slot: (work) => tree.semaphore.run(work),
              })
            : {}),
        },
        setupCode: bindings.setupCode,
        limits: this.options.sandboxLimits,
      })
      .catch((error: unknown) => {
        sessionError = error instanceof Error ? error.message : String(error);
        ending.abort();
        return undefined;
      });

    try {
      const outcome = await this.loop(
        request,
        tree,
        base,
        sessionReady,
        metadata,
        recursive,
        record,
        signal,
        cellScope,
        recalled + learned,
        repl,
      );
      // Sub-calls the code left running are cancelled and waited for, so their cost and events are in the result.
      ending.abort();
      await Promise.allSettled([...inFlight]);
      if (memory && depth === 0 && outcome.answer !== null && outcome.answer !== undefined) {
        const failure = await storeRun(
          memory,
          {
            runId,
            query: request.query,
            answer: outcome.answer,
            status: outcome.status,
            model: this.root.label,
          },
          emitMemory,
        );
        if (failure) tree.warnings.push(failure);
      }
      for (const learner of learners) {
        const failure = await learner
          .finish({
            runId,
            query: request.query,
            answer: outcome.answer,
            status: sessionError === undefined ? outcome.status : "failed",
            ...(outcome.error === undefined ? {} : { error: outcome.error }),
            iterations: outcome.iterations,
            usage: tree.budget.total,
            model: this.root.label,
            events: tree.events,
          })
          .catch((error: unknown) => (error instanceof Error ? error.message : String(error)));
        if (failure) tree.warnings.push(`${learner.name}: ${failure}`);
      }
      if (sessionError !== undefined) {
        return finish({
          answer: null,
          status: "failed",
          iterations: outcome.iterations,
          error: sessionError,
        });
      }
      return finish(outcome);
    } finally {
      ending.abort();
      if (repl === undefined) void sessionReady.then((session) => session?.dispose());
      bindings.dispose();
    }
  }

  private async loop(
    request: RunRequest,
    tree: RunTree,
    base: { runId: string; depth: number; parentRunId?: string },
    sessionReady: Promise<SandboxSession | undefined>,
    metadata: ReturnType<typeof describeContext>,
    recursive: boolean,
    record: (model: string, usage: CallUsage) => void,
    signal: AbortSignal,
    cellScope: CellScope,
    recalled: string,
    repl?: SessionRepl,
  ): Promise<RunOutcome> {
    const { budget } = tree;
    // Privacy mode: requests to a root model that is not local are redacted and audited first.
    const rootClient = tree.privacy?.guard(this.root, base) ?? this.root;
    const outputLimit = this.options.sandboxLimits?.outputLimitChars ?? DEFAULT_LIMITS.outputLimitChars;
    const system = systemPrompt({
      style: this.options.promptStyle ?? "rlmkit",
      language: this.sandbox.language,
      recursive,
      memory: this.options.memory !== undefined,
      tools: toolPromptEntries(this.tools),
      outputLimitChars: outputLimit,
      subModelWindowTokens: contextWindowOf(
        this.sub.resolved.provider,
        this.sub.resolved.modelId,
        this.options.contextWindows,
      ),
    });
    const messages: ModelMessage[] = [
      {
        role: "user",
        content: repl
          ? repl.firstMessage(
              request.query,
              schemaText(request.schema),
              recalled,
              (shown) => tree.privacy?.metadataFor(this.root, shown) ?? shown,
            )
          : firstMessage(
              request.query,
              tree.privacy?.metadataFor(this.root, metadata) ?? metadata,
              schemaText(request.schema),
              recalled,
            ),
      },
    ];
    // About 3 characters a token, with a quarter of the window left for the reply.
    const rootWindowChars =
      contextWindowOf(this.root.resolved.provider, this.root.resolved.modelId, this.options.contextWindows) *
      3 *
      0.75;
    let lastProse: string | undefined;
    const stopped = (iterations: number): RunOutcome | undefined => {
      const stop = budget.stopReason();
      if (stop === undefined) return undefined;
      return {
        answer: null,
        status: stop.status,
        iterations,
        error: stop.message,
        ...(lastProse ? { partialAnswer: lastProse } : {}),
      };
    };
    const room = rootWindowChars - system.length;
    const compacted: ModelMessage[] = [];
    let compactions = 0;
    /** Summary compaction: the model sums up, the conversation restarts from it; the past stays in the REPL. */
    const summarize = async (iteration: number): Promise<void> => {
      if ((this.options.compaction ?? "summary") !== "summary" || messages.length < 4) return;
      const before = conversationChars(messages);
      // Only when the turns (not the first message alone) fill the room: else a summary would come every turn.
      if (before < room * SUMMARY_AT || before - conversationChars(messages.slice(0, 1)) < room * 0.3) return;
      const session = await sessionReady;
      if (session === undefined) return;
      let summary: string;
      try {
        const asked = [
          ...compactHistory(messages, room * 0.9),
          { role: "user" as const, content: summaryRequest() },
        ];
        summary = (
          await meteredGenerate(budget, rootClient, { system, messages: asked, signal }, record)
        ).text.trim();
      } catch {
        return; // The outputs are trimmed instead (compactHistory), as without summary compaction.
      }
      if (summary === "") return;
      compacted.push(...messages.slice(1));
      compactions++;
      await session.setVariable(
        COMPACTION_HISTORY,
        messagesAsData([messages[0] as ModelMessage, ...compacted]),
      );
      messages.splice(
        1,
        messages.length - 1,
        { role: "assistant", content: summary },
        { role: "user", content: restartMessage(compactions) },
      );
      this.emit(tree, {
        type: "compaction",
        at: Date.now(),
        ...base,
        iteration,
        charsBefore: before,
        charsAfter: conversationChars(messages),
      });
    };
    const callRoot = async (iterations: number) => {
      try {
        await summarize(iterations + 1);
        const conversation = compactHistory(messages, room);
        return await meteredGenerate(budget, rootClient, { system, messages: conversation, signal }, record);
      } catch (error) {
        const early = stopped(iterations);
        if (early) return early;
        if (error instanceof BudgetRefusal) {
          return {
            answer: null,
            status: "budget_exceeded",
            iterations,
            error: error.message,
            ...(lastProse ? { partialAnswer: lastProse } : {}),
          } satisfies RunOutcome;
        }
        const message =
          error instanceof ModelCallError ? error.message : `root model failed: ${String(error)}`;
        return { answer: null, status: "failed", iterations, error: message } satisfies RunOutcome;
      }
    };

    let errorsInRow = 0;
    // With `verify`, the first accepted answer opens a verification turn of at most VERIFICATION_TURNS.
    const verifying = this.options.verify === true && base.depth === 0;
    let candidate: { answer: unknown; iteration: number; spent: UsageTotals; evidence: string[] } | undefined;
    const verified = (status: Verification["status"], answer: unknown, iterations: number): RunOutcome => {
      const spent = candidate?.spent ?? budget.total;
      const now = budget.total;
      const verification: Verification = {
        status,
        evidence: evidenceText(candidate?.evidence ?? []),
        usage: {
          inputTokens: now.inputTokens - spent.inputTokens,
          outputTokens: now.outputTokens - spent.outputTokens,
          costUsd: now.costUsd === null ? null : now.costUsd - (spent.costUsd ?? 0),
          calls: now.calls - spent.calls,
        },
      };
      this.emit(tree, { type: "verification", at: Date.now(), ...base, ...verification });
      return { answer, status: "completed", iterations, verification };
    };
    for (
      let iteration = 1;
      iteration <= this.limits.maxIterations ||
      (candidate !== undefined && iteration <= candidate.iteration + VERIFICATION_TURNS);
      iteration++
    ) {
      const early = stopped(iteration - 1);
      if (early) return candidate ? verified("unverified", candidate.answer, iteration - 1) : early;
      const iterationStarted = performance.now();
      this.emit(tree, { type: "iteration-start", at: Date.now(), ...base, iteration });
      const response = await callRoot(iteration - 1);
      if ("status" in response) return response;
      const reply = response.text;
      messages.push({ role: "assistant", content: reply });
      lastProse = proseOf(reply) || lastProse;

      const cells: IterationEndEvent["cells"] = [];
      const feedback: string[] = [];
      let final: { value: unknown } | undefined;
      for (const block of extractCodeBlocks(reply, FENCE_TAGS[this.sandbox.language])) {
        const scope = new AbortController();
        cellScope.signal = AbortSignal.any([signal, scope.signal]);
        const session = await sessionReady;
        if (session === undefined) return { answer: null, status: "failed", iterations: iteration };
        const cell = await session.execute(block.code, { signal });
        scope.abort();
        cellScope.signal = signal;
        cells.push({
          code: block.code,
          output: cell.output,
          durationMs: cell.durationMs,
          ...(cell.error ? { error: `${cell.error.name}: ${cell.error.message}` } : {}),
        });
        feedback.push(formatCell(cells.length, cell, outputLimit));
        errorsInRow = cell.error ? errorsInRow + 1 : 0;
        if (candidate)
          candidate.evidence.push(cell.error ? `${cell.output}\n${cell.error.message}` : cell.output);
        if (cell.final && isNoAnswer(cell.final.value)) feedback.push(NO_ANSWER_NOTE);
        else if (cell.final) {
          final = cell.final;
          break;
        }
        if (cell.limit === "cancelled") break;
      }
      if (final === undefined) {
        const prose = findProseFinal(reply);
        if (prose?.kind === "value") final = { value: prose.text };
        else if (prose?.kind === "variable") {
          const session = await sessionReady;
          if (session === undefined) return { answer: null, status: "failed", iterations: iteration };
          const variable = await session.getVariable(prose.name).catch((error: unknown) => ({
            unreadable: error instanceof Error ? error.message : String(error),
          }));
          if (variable !== undefined && "unreadable" in variable) {
            feedback.push(`FINAL_VAR(${prose.name}): the variable could not be read: ${variable.unreadable}`);
          } else if (variable !== undefined && isNoAnswer(variable.value)) feedback.push(NO_ANSWER_NOTE);
          else if (variable !== undefined) final = variable;
          else
            feedback.push(
              `FINAL_VAR(${prose.name}): there is no variable named "${prose.name}" in the REPL.`,
            );
        }
      }
      this.emit(tree, {
        type: "iteration-end",
        at: Date.now(),
        ...base,
        iteration,
        reply,
        usage: response.usage,
        modelLatencyMs: response.latencyMs,
        cells,
        durationMs: performance.now() - iterationStarted,
      });

      if (final !== undefined) {
        const checked = await validate(request.schema, final.value);
        if (checked.ok && candidate) {
          candidate.evidence.push(proseOf(reply));
          const same = sameAnswer(checked.value, candidate.answer);
          return verified(same ? "confirmed" : "corrected", checked.value, iteration);
        }
        if (checked.ok && verifying) {
          candidate = { answer: checked.value, iteration, spent: { ...budget.total }, evidence: [] };
          messages.push({ role: "user", content: verificationRequest(checked.value) });
          continue;
        }
        if (checked.ok) return { answer: checked.value, status: "completed", iterations: iteration };
        feedback.push(
          `Your final answer does not match the required schema: ${checked.problems}. Fix it and call FINAL again.`,
        );
      }
      const afterCells = stopped(iteration);
      if (afterCells) return candidate ? verified("unverified", candidate.answer, iteration) : afterCells;
      const maxErrors = this.limits.maxErrors;
      if (maxErrors !== undefined && errorsInRow >= maxErrors) {
        const last = cells.at(-1)?.error ?? "";
        if (candidate) return verified("unverified", candidate.answer, iteration);
        return {
          answer: null,
          status: "failed",
          iterations: iteration,
          error: `${errorsInRow} cells in a row raised an error (the limit is ${maxErrors}); the last: ${last.slice(0, 300)}`,
          ...(lastProse ? { partialAnswer: lastProse } : {}),
        };
      }
      if (feedback.length === 0) feedback.push(this.wrongLanguageNote(reply) ?? nudge(this.sandbox.language));
      messages.push({ role: "user", content: feedback.join("\n\n") });
    }

    if (candidate) return verified("unverified", candidate.answer, candidate.iteration + VERIFICATION_TURNS);
    const iterations = this.limits.maxIterations;
    const early = stopped(iterations);
    if (early) return early;
    messages.push({ role: "user", content: lastCallMessage() });
    const response = await callRoot(iterations);
    if ("status" in response) return response;
    const prose = findProseFinal(response.text);
    const answer = prose?.kind === "value" ? prose.text : proseOf(response.text) || response.text;
    return {
      answer,
      status: "max_iterations",
      iterations,
      error: `no FINAL within ${iterations} iterations`,
    };
  }
}

/** Creates an RLM. `model` is a spec string, an AI SDK model, or a ModelClient. */
export function createRLM(options: RLMOptions): RLM {
  return new RLM(options);
}
