import { randomUUID } from "node:crypto";
import { setImmediate } from "node:timers/promises";
import type { ModelClient } from "../models/model-client.ts";
import { type CallUsage, NO_USAGE } from "../models/usage.ts";
import { countTokens } from "../sandboxes/host-helpers.ts";
import type { Semaphore } from "../shared/semaphore.ts";
import type { HostFunction } from "../spec/sandbox.ts";
import type { Budget } from "./budget.ts";
import { BudgetRefusal, meteredGenerate } from "./metered-call.ts";
import { goalHeader } from "./prompts.ts";
import type { RunEvent } from "./run-events.ts";
import type { ToolLoop } from "./sub-tools.ts";
import { traceText, withSubcallEvents } from "./subcall-events.ts";

/** What the REPL functions of one run need from the run. */
export interface ReplFunctionsContext {
  query: string;
  runId: string;
  parentRunId?: string;
  depth: number;
  budget: Budget;
  semaphore: Semaphore;
  /** The default sub-model and the other models `options.model` may name. */
  subModel: ModelClient;
  models: Record<string, ModelClient>;
  /** Sub-model context windows in tokens, by model label. */
  windowOf: (client: ModelClient) => number;
  goalHeader: boolean;
  /** Shared by the whole run tree; undefined when sub-call caching is off. */
  cache: Map<string, Promise<string>> | undefined;
  emit: (event: RunEvent) => void;
  /** Books a call's usage to the budget and to this run and its ancestors. */
  record: (model: string, usage: CallUsage) => void;
  /** The signal sub-calls take now: it aborts when their cell or the run ends, cancelling what is in flight. */
  signal: () => AbortSignal;
  /** Registers a sub-call in flight, so the run waits for it to settle (and books its cost) before it ends. */
  track: (work: Promise<unknown>) => void;
  /** With sub-tools: sends an llm_query prompt through the tool loop (several metered calls) instead of one call. */
  toolLoop?: ToolLoop;
  /** Starts a child run (depth + 1) and resolves to its answer as text; undefined at the depth limit. */
  runChild?: (
    prompt: string,
    subContext: unknown,
    callId: string,
  ) => Promise<{ answer: string; usage: CallUsage }>;
}

/** Thrown inside the REPL for a prompt that cannot be sent (too large, bad arguments). */
class SubcallRefusal extends Error {}

/** The most prompts one batch call takes; checked before anything else is done with the batch. */
export const MAX_BATCH_SIZE = 10_000;

function text(value: unknown, what: string): string {
  if (typeof value === "string") return value;
  if (value === undefined || value === null) throw new SubcallRefusal(`${what} needs a prompt string`);
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** A rough token count: exact only when the prompt might be near the window. */
function tokensOf(prompt: string, window: number): number {
  const estimate = Math.ceil(prompt.length / 4);
  return prompt.length / 2 < window ? estimate : countTokens(prompt);
}

/**
 * The host side of llm_query, llm_query_batched, rlm_query and rlm_query_batched for one run.
 * A sub-call that fails after retries returns an error marker string; the run goes on.
 */
export function createReplFunctions(run: ReplFunctionsContext): Record<string, HostFunction> {
  const base = {
    runId: run.runId,
    depth: run.depth,
    ...(run.parentRunId ? { parentRunId: run.parentRunId } : {}),
  };

  /** The model a call names: `{ model: "name" }` (JS) / `model="name"` (Python), or the official positional form. */
  const clientFor = (options: unknown): ModelClient => {
    const name =
      typeof options === "string" ? options : (options as { model?: unknown } | undefined | null)?.model;
    if (name === undefined || name === null) return run.subModel;
    const client = run.models[String(name)];
    if (client === undefined) {
      const known = ["(default)", ...Object.keys(run.models)].join(", ");
      throw new SubcallRefusal(`llm_query: no model named "${String(name)}"; configured: ${known}`);
    }
    return client;
  };

  /** Checks size and budget, then calls the model; returns the answer or an error marker. */
  const subcall = async (rawPrompt: unknown, client: ModelClient): Promise<string> => {
    // Each item of a batch is checked in a turn of its own: counting a long prompt takes the host's thread for
    // a while, and a batch must not hold it for all its items at once (timers and the run's limits run between).
    await setImmediate();
    if (run.signal().aborted) throw new SubcallRefusal("the run or its cell has ended");
    const prompt = (run.goalHeader ? goalHeader(run.query) : "") + text(rawPrompt, "llm_query");
    const window = run.windowOf(client);
    const tokens = tokensOf(prompt, window);
    if (tokens > window) {
      throw new SubcallRefusal(
        `llm_query refused: the prompt is about ${tokens.toLocaleString("en-US")} tokens (${prompt.length.toLocaleString("en-US")} characters), more than the ${client.label} window of ${window.toLocaleString("en-US")} tokens. Split it into smaller pieces.`,
      );
    }
    const key = `${client.label}\n${prompt}`;
    const cached = run.cache?.get(key);
    const identity = {
      ...base,
      callId: randomUUID(),
      kind: "llm_query" as const,
      model: client.label,
      promptChars: prompt.length,
    };
    if (cached !== undefined) {
      const answer = await cached;
      run.emit({ type: "subcall-start", at: Date.now(), ...identity, prompt: traceText(prompt) });
      run.emit({
        type: "subcall-end",
        at: Date.now(),
        ...identity,
        ok: true,
        cached: true,
        usage: NO_USAGE,
        latencyMs: 0,
        response: traceText(answer),
      });
      return answer;
    }
    const refusal = run.budget.reserveSubcall();
    if (refusal !== undefined) return `[llm_query not sent: ${refusal}]`;
    const pending = run.semaphore.run(() =>
      withSubcallEvents(
        run.emit,
        identity,
        async () => {
          if (run.toolLoop !== undefined) {
            const looped = await run.toolLoop(client, prompt, run.signal(), identity.callId);
            return { value: looped.text, usage: looped.usage };
          }
          const response = await meteredGenerate(
            run.budget,
            client,
            { prompt, signal: run.signal() },
            run.record,
          );
          return { value: response.text, usage: response.usage };
        },
        prompt,
      ),
    );
    run.track(pending);
    run.cache?.set(key, pending);
    try {
      return await pending;
    } catch (error) {
      run.cache?.delete(key);
      const message = error instanceof Error ? error.message : String(error);
      return error instanceof BudgetRefusal
        ? `[llm_query not sent: ${message}]`
        : `[llm_query error: ${message}]`;
    }
  };

  const childCall = async (rawPrompt: unknown, subContext: unknown, options: unknown): Promise<string> => {
    const runChild = run.runChild;
    if (runChild === undefined) return subcall(rawPrompt, clientFor(options));
    const prompt = text(rawPrompt, "rlm_query");
    const refusal = run.budget.reserveSubcall();
    if (refusal !== undefined) return `[rlm_query not sent: ${refusal}]`;
    const callId = randomUUID();
    const identity = {
      ...base,
      callId,
      kind: "rlm_query" as const,
      model: run.subModel.label,
      promptChars: prompt.length,
    };
    try {
      const pending = withSubcallEvents(
        run.emit,
        identity,
        async () => {
          const child = await runChild(prompt, subContext, callId);
          return { value: child.answer, usage: child.usage };
        },
        prompt,
      );
      run.track(pending);
      return await pending;
    } catch (error) {
      return `[rlm_query error: ${error instanceof Error ? error.message : String(error)}]`;
    }
  };

  /**
   * A batch from the guest, checked before any work: an array of at most MAX_BATCH_SIZE items with no holes
   * (a sparse array of length 2^32-1 would otherwise be walked hole by hole on the host).
   */
  const list = (value: unknown, what: string, optional = false): unknown[] => {
    if (optional && (value === undefined || value === null)) return [];
    if (!Array.isArray(value)) throw new SubcallRefusal(`${what} takes an array of prompts`);
    if (value.length > MAX_BATCH_SIZE) {
      throw new SubcallRefusal(
        `${what} takes at most ${MAX_BATCH_SIZE.toLocaleString("en-US")} items at once, got ${value.length.toLocaleString("en-US")}: send the batch in parts`,
      );
    }
    for (let index = 0; index < value.length; index++) {
      if (!(index in value))
        throw new SubcallRefusal(`${what}: item ${index} of the array is missing (a sparse array)`);
    }
    return value;
  };

  /** One item of a batch: a refusal becomes that item's error string, not the batch's. */
  const settle = (work: () => Promise<string>): Promise<string> =>
    work().catch((error: unknown) => `[error: ${error instanceof Error ? error.message : String(error)}]`);

  return {
    llm_query: (prompt, options) => subcall(prompt, clientFor(options)),
    llm_query_batched: (prompts, options) => {
      const client = clientFor(options);
      return Promise.all(
        list(prompts, "llm_query_batched").map((prompt) => settle(() => subcall(prompt, client))),
      );
    },
    rlm_query: (prompt, subContext, options) => childCall(prompt, subContext, options),
    rlm_query_batched: (prompts, subContexts, options) => {
      const contexts = Array.isArray(subContexts)
        ? list(subContexts, "rlm_query_batched contexts", true)
        : [];
      return Promise.all(
        list(prompts, "rlm_query_batched").map((prompt, index) =>
          settle(() => childCall(prompt, contexts[index], options)),
        ),
      );
    },
  };
}
