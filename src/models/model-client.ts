import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { APICallError } from "@ai-sdk/provider";
import {
  generateText,
  jsonSchema,
  type LanguageModelUsage,
  type ModelMessage,
  streamText,
  type ToolSet,
  tool,
} from "ai";
import { ModelCallError } from "../errors/model-call-error.ts";
import { timeoutSignal } from "../shared/timeout-signal.ts";
import type { ModelCallEvent, ModelCallListener } from "./model-events.ts";
import type { ModelSettings } from "./model-settings.ts";
import { DEFAULT_PRICES, findPrice, type ModelPrice, type PriceTable, priceCall } from "./prices.ts";
import { collectSecrets, redactSecrets } from "./redact-secrets.ts";
import { type LanguageModelInstance, type ResolvedModel, resolveModel } from "./resolve-model.ts";
import { type CachedResponse, type ResponseCache, requestCacheKey } from "./response-cache.ts";
import { backoffDelayMs, DEFAULT_RETRY_POLICY, type RetryPolicy, retryAfterMs } from "./retry-policy.ts";
import { type CallUsage, NO_USAGE } from "./usage.ts";

export interface ModelClientOptions {
  /** A spec string (`openai:gpt-5-mini`) or any AI SDK language model instance. */
  model: string | LanguageModelInstance;
  /** Base URL and API key, when the environment does not hold them. */
  settings?: ModelSettings;
  /** Prices merged over the built-in table. */
  prices?: PriceTable;
  retry?: Partial<RetryPolicy>;
  /** Per-attempt timeout in ms (default 600,000). */
  timeoutMs?: number;
  /** Optional response cache (for reproducible benchmarks). */
  cache?: ResponseCache;
  /** Receives `call-start`, `call-retry` and `call-end`. */
  onEvent?: ModelCallListener;
}

export interface ModelRequest {
  system?: string;
  /** The conversation; or give `prompt` for a single user message. */
  messages?: ModelMessage[];
  prompt?: string;
  maxOutputTokens?: number;
  temperature?: number;
  signal?: AbortSignal;
  /** Streams the reply: called with each piece of text as it arrives. */
  onTextDelta?: (delta: string) => void;
  /**
   * Tools the model may call, by name (JSON Schema of their input). The call does not run them: the reply's
   * `toolCalls` and `responseMessages` say what the model asked for. Such calls skip the response cache.
   */
  tools?: Record<string, ToolDefinition>;
}

/** A tool as a model is told of it. */
export interface ToolDefinition {
  description: string;
  /** JSON Schema of the tool's input (an object). */
  parameters: Record<string, unknown>;
}

/** A tool call the model asked for. */
export interface ModelToolCall {
  id: string;
  name: string;
  input: unknown;
}

export interface ModelResponse {
  text: string;
  usage: CallUsage;
  finishReason: string;
  latencyMs: number;
  attempts: number;
  cached: boolean;
  /** `provider:modelId`. */
  model: string;
  /** With `tools`: the tool calls the model asked for (none when it answered). */
  toolCalls?: ModelToolCall[];
  /** With `tools`: the messages of this reply, to add to the conversation before the tool results. */
  responseMessages?: ModelMessage[];
}

interface AttemptResult {
  text: string;
  usage: LanguageModelUsage;
  finishReason: string;
  toolCalls?: ModelToolCall[];
  responseMessages?: ModelMessage[];
}

const DEFAULT_TIMEOUT_MS = 600_000;

function firstLine(text: string, max = 300): string {
  const line = text.split("\n", 1)[0] ?? "";
  return line.length > max ? `${line.slice(0, max)}...` : line;
}

/**
 * Every model call goes through a ModelClient: it counts tokens, prices the call, retries what can be retried
 * (honouring `retry-after`), enforces a per-attempt timeout, follows an AbortSignal, optionally caches responses,
 * and reports each call as events.
 */
export class ModelClient {
  readonly resolved: ResolvedModel;
  private readonly prices: PriceTable;
  private readonly retry: RetryPolicy;
  private readonly timeoutMs: number;
  private readonly cache: ResponseCache | undefined;
  private readonly listeners = new Set<ModelCallListener>();
  private readonly secrets: string[];

  constructor(options: ModelClientOptions) {
    this.resolved = resolveModel(options.model, options.settings);
    this.prices = { ...DEFAULT_PRICES, ...options.prices };
    this.retry = { ...DEFAULT_RETRY_POLICY, ...options.retry };
    this.timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    this.cache = options.cache;
    this.secrets = collectSecrets(options.settings?.env ?? process.env, [options.settings?.apiKey]);
    if (options.onEvent) this.listeners.add(options.onEvent);
  }

  /** `provider:modelId`. */
  get label(): string {
    return this.resolved.label;
  }

  /** The model's price per million tokens, or undefined when no price table entry matches. */
  get price(): ModelPrice | undefined {
    return findPrice(this.prices, this.resolved.provider, this.resolved.modelId);
  }

  /** Adds a listener; returns a function that removes it. */
  onEvent(listener: ModelCallListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private emit(event: ModelCallEvent): void {
    for (const listener of this.listeners) listener(event);
  }

  private usageOf(usage: LanguageModelUsage): CallUsage {
    const inputTokens = usage.inputTokens ?? 0;
    const outputTokens = usage.outputTokens ?? 0;
    const cachedInputTokens = usage.inputTokenDetails?.cacheReadTokens ?? 0;
    const price = findPrice(this.prices, this.resolved.provider, this.resolved.modelId);
    const known = price !== undefined && usage.inputTokens !== undefined && usage.outputTokens !== undefined;
    return {
      inputTokens,
      outputTokens,
      cachedInputTokens,
      costUsd: known ? priceCall(price, { inputTokens, outputTokens, cachedInputTokens }) : null,
    };
  }

  private cacheKey(request: ModelRequest): string {
    return requestCacheKey({
      model: this.label,
      system: request.system,
      messages: request.messages,
      prompt: request.prompt,
      maxOutputTokens: request.maxOutputTokens,
      temperature: request.temperature,
    });
  }

  private async attempt(request: ModelRequest, signal: AbortSignal): Promise<AttemptResult> {
    const common = {
      model: this.resolved.model,
      system: request.system,
      maxOutputTokens: request.maxOutputTokens,
      temperature: request.temperature,
      maxRetries: 0,
      abortSignal: signal,
    };
    const input =
      request.messages !== undefined ? { messages: request.messages } : { prompt: request.prompt ?? "" };
    if (request.tools !== undefined) {
      const tools: ToolSet = Object.fromEntries(
        Object.entries(request.tools).map(([name, definition]) => [
          name,
          tool({ description: definition.description, inputSchema: jsonSchema(definition.parameters) }),
        ]),
      );
      const result = await generateText({ ...common, ...input, tools });
      return {
        text: result.text,
        usage: result.usage,
        finishReason: result.finishReason,
        toolCalls: result.toolCalls.map((call) => ({
          id: call.toolCallId,
          name: call.toolName,
          input: call.input,
        })),
        responseMessages: result.responseMessages,
      };
    }
    if (request.onTextDelta === undefined) {
      const result = await generateText({ ...common, ...input });
      return { text: result.text, usage: result.usage, finishReason: result.finishReason };
    }
    let streamError: unknown;
    const result = streamText({
      ...common,
      ...input,
      onError: ({ error }) => {
        streamError ??= error;
      },
    });
    let text = "";
    for await (const part of result.fullStream) {
      if (part.type === "text-delta") {
        text += part.text;
        request.onTextDelta(part.text);
      } else if (part.type === "error") {
        throw part.error;
      }
    }
    if (streamError !== undefined) throw streamError;
    return { text, usage: await result.usage, finishReason: await result.finishReason };
  }

  /** Sends one request (with retries) and returns the text, usage and cost. */
  async generate(request: ModelRequest): Promise<ModelResponse> {
    const callId = randomUUID();
    const model = this.label;
    const started = performance.now();
    this.emit({ type: "call-start", callId, model, at: Date.now() });
    const end = (fields: {
      ok: boolean;
      usage: CallUsage;
      attempts: number;
      cached: boolean;
      error?: string;
    }) => this.emit({ type: "call-end", callId, model, latencyMs: performance.now() - started, ...fields });

    const key = this.cache && request.tools === undefined ? this.cacheKey(request) : undefined;
    const hit = key === undefined ? undefined : this.cache?.get(key);
    if (hit !== undefined) {
      request.onTextDelta?.(hit.text);
      end({ ok: true, usage: hit.usage, attempts: 0, cached: true });
      return { ...hit, latencyMs: performance.now() - started, attempts: 0, cached: true, model };
    }

    for (let attempt = 1; ; attempt++) {
      const deadline = timeoutSignal(this.timeoutMs);
      const timeout = deadline.signal;
      const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
      try {
        const result = await this.attempt(request, signal);
        deadline.clear();
        const usage = this.usageOf(result.usage);
        const response: CachedResponse = { text: result.text, usage, finishReason: result.finishReason };
        if (key !== undefined) this.cache?.set(key, response);
        end({ ok: true, usage, attempts: attempt, cached: false });
        return {
          ...response,
          latencyMs: performance.now() - started,
          attempts: attempt,
          cached: false,
          model,
          ...(result.toolCalls ? { toolCalls: result.toolCalls } : {}),
          ...(result.responseMessages ? { responseMessages: result.responseMessages } : {}),
        };
      } catch (caught) {
        const failure = this.classify(caught, attempt, request.signal, timeout);
        deadline.clear();
        const waitMs = this.retryDelay(failure, caught, attempt);
        if (waitMs === undefined) {
          end({ ok: false, usage: NO_USAGE, attempts: attempt, cached: false, error: failure.message });
          throw failure;
        }
        this.emit({ type: "call-retry", callId, model, attempt, delayMs: waitMs, reason: failure.message });
        try {
          await sleep(waitMs, undefined, { signal: request.signal });
        } catch {
          const cancelled = this.cancelled(attempt);
          end({ ok: false, usage: NO_USAGE, attempts: attempt, cached: false, error: cancelled.message });
          throw cancelled;
        }
      }
    }
  }

  private cancelled(attempts: number): ModelCallError {
    return new ModelCallError({
      message: `Call to ${this.label} was cancelled.`,
      model: this.label,
      kind: "cancelled",
      attempts,
    });
  }

  /** Turns whatever a provider threw into a ModelCallError with a one-line, redacted message. */
  private classify(
    error: unknown,
    attempts: number,
    userSignal: AbortSignal | undefined,
    timeout: AbortSignal,
  ): ModelCallError {
    const model = this.label;
    if (userSignal?.aborted) return this.cancelled(attempts);
    if (timeout.aborted) {
      return new ModelCallError({
        message: `Call to ${model} timed out after ${this.timeoutMs} ms.`,
        model,
        kind: "timeout",
        attempts,
        isRetryable: true,
      });
    }
    const apiError = unwrapApiError(error);
    if (apiError !== undefined) {
      const status = apiError.statusCode === undefined ? "" : ` HTTP ${apiError.statusCode}`;
      return new ModelCallError({
        message: redactSecrets(
          `${model} failed with${status || " an error"}: ${firstLine(apiError.message)}`,
          this.secrets,
        ),
        model,
        kind: "api",
        attempts,
        statusCode: apiError.statusCode,
        isRetryable: apiError.isRetryable,
      });
    }
    const message = error instanceof Error ? error.message : String(error);
    const network =
      error instanceof TypeError && /fetch|network|socket|ECONN/i.test(`${message} ${String(error.cause)}`);
    return new ModelCallError({
      message: redactSecrets(`${model} failed: ${firstLine(message)}`, this.secrets),
      model,
      kind: network ? "network" : "other",
      attempts,
      isRetryable: network,
    });
  }

  /** How long to wait before the next attempt, or undefined to give up. */
  private retryDelay(failure: ModelCallError, error: unknown, attempt: number): number | undefined {
    if (!failure.isRetryable || attempt > this.retry.maxRetries) return undefined;
    const requested = retryAfterMs(unwrapApiError(error)?.responseHeaders);
    if (requested !== undefined) {
      if (requested <= this.retry.maxRetryAfterMs) return requested;
      failure.message += ` The server asked to retry after ${Math.ceil(requested / 1000)} s, more than the ${this.retry.maxRetryAfterMs / 1000} s allowed (retry.maxRetryAfterMs).`;
      return undefined;
    }
    return backoffDelayMs(this.retry, attempt - 1);
  }
}

function unwrapApiError(error: unknown): APICallError | undefined {
  if (APICallError.isInstance(error)) return error;
  const last = (error as { lastError?: unknown } | null)?.lastError;
  if (APICallError.isInstance(last)) return last;
  const cause = (error as { cause?: unknown } | null)?.cause;
  return APICallError.isInstance(cause) ? cause : undefined;
}

export function createModelClient(options: ModelClientOptions): ModelClient {
  return new ModelClient(options);
}

/** Settings for turning a model input into a ModelClient. */
export interface ModelClientDefaults {
  settings?: ModelSettings;
  prices?: PriceTable;
  cache?: ResponseCache;
  /** Per-attempt timeout in ms. */
  timeoutMs?: number;
  /** Retries after the first attempt. */
  maxRetries?: number;
}

/** A ModelClient as it is, or a new one for a spec string or AI SDK model. */
export function asModelClient(
  model: string | LanguageModelInstance | ModelClient,
  defaults: ModelClientDefaults = {},
) {
  if (model instanceof ModelClient) return model;
  return new ModelClient({
    model,
    settings: defaults.settings,
    prices: defaults.prices,
    cache: defaults.cache,
    ...(defaults.timeoutMs === undefined ? {} : { timeoutMs: defaults.timeoutMs }),
    ...(defaults.maxRetries === undefined ? {} : { retry: { maxRetries: defaults.maxRetries } }),
  });
}
