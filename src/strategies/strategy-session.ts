import { randomUUID } from "node:crypto";
import { contextLength } from "../context/context-text.ts";
import { Budget } from "../engine/budget.ts";
import { BudgetRefusal, meteredGenerate, requirePrices } from "../engine/metered-call.ts";
import type { ModelInput, RunRequest, RunResult, RunStatus } from "../engine/rlm.ts";
import type { RunEvent, RunEventListener } from "../engine/run-events.ts";
import { DEFAULT_RUN_LIMITS, type RunLimits, validateLimits } from "../engine/run-limits.ts";
import { withSubcallEvents } from "../engine/subcall-events.ts";
import { contextWindowOf } from "../models/context-windows.ts";
import { asModelClient, type ModelClient } from "../models/model-client.ts";
import { type ModelSettings, settingsForModel } from "../models/model-settings.ts";
import type { PriceTable } from "../models/prices.ts";
import type { ResponseCache } from "../models/response-cache.ts";
import { Semaphore } from "../shared/semaphore.ts";

/** Options every strategy takes: the same model layer, limits and events as the RLM engine. */
export interface StrategyOptions {
  model: ModelInput;
  /** The model for per-chunk calls (map, memory updates); default: the main model. */
  subModel?: ModelInput;
  limits?: RunLimits;
  /** Base URL and key of the main model (and of a sub-model of the same provider). */
  settings?: ModelSettings;
  /** Base URL and key of the sub-model, when it needs its own. */
  subModelSettings?: ModelSettings;
  prices?: PriceTable;
  responseCache?: ResponseCache;
  /** Per-attempt timeout of model calls in ms. */
  callTimeoutMs?: number;
  /** Retries of a model call after the first attempt. */
  maxRetries?: number;
  /** Context windows in tokens by `provider:modelId` or modelId. */
  contextWindows?: Record<string, number>;
  onEvent?: RunEventListener;
}

/** Thrown by `call` when a limit stops the run; the strategy lets it propagate to `finish`. */
export class StrategyStopped extends Error {
  readonly status: RunStatus;

  constructor(status: RunStatus, message: string) {
    super(message);
    this.status = status;
  }
}

/**
 * The plumbing a strategy run shares with the engine: one Budget for limits and usage, a Semaphore for
 * concurrency, and the same run events (run-start, subcall-start/-end, run-end), so traces and benchmarks
 * read every strategy the same way.
 */
export class StrategySession {
  readonly main: ModelClient;
  readonly sub: ModelClient;
  readonly budget: Budget;
  private readonly semaphore: Semaphore;
  private readonly options: StrategyOptions;
  private readonly events: RunEvent[] = [];
  private readonly runId = randomUUID();
  private readonly started = performance.now();
  steps = 0;
  /** Aborted when the run ends: calls still in flight are cancelled, then waited for. */
  private readonly ending = new AbortController();
  private readonly signal: AbortSignal;
  private readonly inFlight = new Set<Promise<unknown>>();

  constructor(strategy: string, options: StrategyOptions, request: RunRequest) {
    this.options = options;
    ({ main: this.main, sub: this.sub } = strategyClients(options));
    const limits = { ...DEFAULT_RUN_LIMITS, ...options.limits };
    this.budget = new Budget(limits, request.signal);
    this.signal = AbortSignal.any([this.budget.signal, this.ending.signal]);
    this.semaphore = new Semaphore(limits.concurrency);
    this.emit({
      type: "run-start",
      at: Date.now(),
      runId: this.runId,
      depth: 0,
      query: `[${strategy}] ${request.query}`,
      model: this.main.label,
      subModel: this.sub.label,
      contextChars: contextLength(request.context),
    });
  }

  private emit(event: RunEvent): void {
    this.events.push(event);
    this.options.onEvent?.(event);
  }

  /** The model's context window in tokens. */
  windowOf(client: ModelClient): number {
    return contextWindowOf(client.resolved.provider, client.resolved.modelId, this.options.contextWindows);
  }

  /** One model call under the run's limits and concurrency; usage and events are booked. */
  async call(client: ModelClient, prompt: string, maxOutputTokens?: number): Promise<string> {
    const refusal = this.budget.reserveSubcall();
    if (refusal !== undefined) {
      const stop = this.budget.stopReason();
      throw new StrategyStopped(stop?.status ?? "budget_exceeded", refusal);
    }
    const identity = {
      runId: this.runId,
      depth: 0,
      callId: randomUUID(),
      kind: "llm_query" as const,
      model: client.label,
      promptChars: prompt.length,
    };
    const pending = this.semaphore.run(() =>
      withSubcallEvents(
        (event) => this.emit(event),
        identity,
        async () => {
          const response = await meteredGenerate(
            this.budget,
            client,
            {
              prompt,
              signal: this.signal,
              ...(maxOutputTokens === undefined ? {} : { maxOutputTokens }),
            },
            (model, usage) => this.budget.record(model, usage),
          );
          return { value: response.text, usage: response.usage };
        },
        prompt,
      ),
    );
    this.inFlight.add(pending);
    try {
      return await pending;
    } catch (error) {
      const stop = this.budget.stopReason();
      if (stop !== undefined) throw new StrategyStopped(stop.status, stop.message);
      if (error instanceof BudgetRefusal) throw new StrategyStopped("budget_exceeded", error.message);
      throw new StrategyStopped("failed", error instanceof Error ? error.message : String(error));
    } finally {
      this.inFlight.delete(pending);
    }
  }

  /** Cancels the calls still in flight and waits for them, so their cost and events are in the result. */
  async settle(): Promise<void> {
    this.ending.abort();
    await Promise.allSettled([...this.inFlight]);
  }

  /** Ends the run: an answer, or the error that stopped it. */
  finish(outcome: { answer: string } | { error: unknown }): RunResult {
    this.budget.release();
    const status: RunStatus =
      "answer" in outcome
        ? "completed"
        : outcome.error instanceof StrategyStopped
          ? outcome.error.status
          : "failed";
    const error =
      "error" in outcome
        ? outcome.error instanceof Error
          ? outcome.error.message
          : String(outcome.error)
        : undefined;
    const answer = "answer" in outcome ? outcome.answer.trim() : null;
    const warnings = this.budget.notes();
    const durationMs = performance.now() - this.started;
    this.emit({
      type: "run-end",
      at: Date.now(),
      runId: this.runId,
      depth: 0,
      status,
      answer,
      iterations: this.steps,
      durationMs,
      ...(error === undefined ? {} : { error }),
    });
    return {
      answer,
      status,
      usage: { total: this.budget.total, byModel: Object.fromEntries(this.budget.byModel) },
      iterations: this.steps,
      subcalls: this.budget.subcalls,
      depth: 0,
      durationMs,
      trace: this.events,
      ...(error === undefined ? {} : { error }),
      ...(warnings.length === 0 ? {} : { warnings }),
    };
  }
}

/** The main and sub-model clients of a strategy run; each model gets only its own base URL and key. */
function strategyClients(options: StrategyOptions): { main: ModelClient; sub: ModelClient } {
  const defaults = {
    prices: options.prices,
    cache: options.responseCache,
    ...(options.callTimeoutMs === undefined ? {} : { timeoutMs: options.callTimeoutMs }),
    ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }),
  };
  const main = asModelClient(options.model, { ...defaults, settings: options.settings });
  const sub =
    options.subModel === undefined
      ? main
      : asModelClient(options.subModel, {
          ...defaults,
          settings: settingsForModel(
            options.subModel,
            options.model,
            options.settings,
            options.subModelSettings,
          ),
        });
  return { main, sub };
}

/**
 * Checks a strategy's options when it is created, as createRLM does: limits in range (UsageError), and a price for
 * every model when a cost limit is set (ConfigError).
 */
export function checkStrategyOptions(options: StrategyOptions): void {
  validateLimits({ run: options.limits });
  if (options.limits?.maxCostUsd !== undefined) {
    const { main, sub } = strategyClients(options);
    requirePrices([main, sub]);
  }
}

/** Runs a strategy body inside a session and turns any stop into a result. */
export async function runStrategy(
  name: string,
  options: StrategyOptions,
  request: RunRequest,
  body: (session: StrategySession) => Promise<string>,
): Promise<RunResult> {
  const session = new StrategySession(name, options, request);
  let outcome: { answer: string } | { error: unknown };
  try {
    outcome = { answer: await body(session) };
  } catch (error) {
    outcome = { error };
  }
  await session.settle();
  return session.finish(outcome);
}
