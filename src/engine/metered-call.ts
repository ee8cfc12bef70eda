import { ConfigError } from "../errors/config-error.ts";
import type { ModelClient, ModelRequest, ModelResponse } from "../models/model-client.ts";
import { priceCall } from "../models/prices.ts";
import type { CallUsage } from "../models/usage.ts";
import { countTokens } from "../sandboxes/host-helpers.ts";
import { EXACT_TOKEN_COUNT_CHARS } from "../sandboxes/token-count.ts";
import type { Budget } from "./budget.ts";

/** Our count of a prompt is o200k's; other tokenizers count up to about this much more. */
const TOKENIZER_MARGIN = 1.15;
/** Tokens a chat format adds per message (role markers) and per request. */
const PER_MESSAGE_TOKENS = 8;
const PER_REQUEST_TOKENS = 16;

function messageText(content: unknown): string {
  if (typeof content === "string") return content;
  if (Array.isArray(content)) {
    return content
      .map((part) => {
        const { text, input, output } = (part ?? {}) as { text?: unknown; input?: unknown; output?: unknown };
        if (typeof text === "string") return text;
        // A tool call's input and a tool result's output are sent as JSON.
        const data = input ?? output;
        return data === undefined ? "" : (JSON.stringify(data) ?? "");
      })
      .join("");
  }
  return "";
}

/**
 * Prompt tokens of a request as a server will count them, erring high: o200k's count or a quarter of the UTF-8
 * bytes, whichever is larger, plus a margin for other tokenizers and the chat format's own tokens. A text too long
 * to count in full counts as its UTF-8 bytes (byte-level tokenizers never make more tokens than bytes), never as
 * a sampled estimate, which text built to fool the samples could push far under the truth.
 */
export function estimateInputTokens(
  request: Pick<ModelRequest, "system" | "messages" | "prompt" | "tools">,
): number {
  const texts = [
    request.system ?? "",
    request.prompt ?? "",
    request.tools === undefined ? "" : JSON.stringify(request.tools),
    ...(request.messages ?? []).map((m) => messageText(m.content)),
  ];
  let tokens = PER_REQUEST_TOKENS;
  for (const text of texts) {
    if (text === "") continue;
    const bytes = Buffer.byteLength(text, "utf8");
    const counted =
      text.length > EXACT_TOKEN_COUNT_CHARS
        ? bytes
        : Math.ceil(Math.max(countTokens(text), Math.ceil(bytes / 4)) * TOKENIZER_MARGIN);
    tokens += counted + PER_MESSAGE_TOKENS;
  }
  return tokens;
}

/** A call that was refused by the budget before it was sent. */
export class BudgetRefusal extends Error {}

/** Thrown for a call cancelled in flight, with the usage we book for it (its prompt tokens, estimated). */
export class CancelledInFlight extends Error {
  readonly usage: CallUsage;

  constructor(message: string, usage: CallUsage) {
    super(message);
    this.usage = usage;
  }
}

/**
 * One model call under the budget: reserves the prompt and an output cap first (the cap goes with the request, so
 * the server cannot spend more), books the usage through `record` when it returns, and gives back what was not
 * used. A call cancelled in flight is booked at its estimated prompt tokens: the provider may bill them.
 */
export async function meteredGenerate(
  budget: Budget,
  client: ModelClient,
  request: ModelRequest,
  record: (model: string, usage: CallUsage) => void,
): Promise<ModelResponse> {
  const inputTokens = budget.metered ? estimateInputTokens(request) : 0;
  const reservation = await budget.reserve(
    {
      model: client.label,
      price: client.price,
      inputTokens,
      ...(request.maxOutputTokens === undefined ? {} : { maxOutputTokens: request.maxOutputTokens }),
    },
    request.signal,
  );
  if (typeof reservation === "string") throw new BudgetRefusal(reservation);
  if (request.signal?.aborted) {
    reservation.release();
    throw new BudgetRefusal("the call was cancelled before it was sent");
  }
  try {
    const response = await client.generate({
      ...request,
      ...(reservation.maxOutputTokens === undefined ? {} : { maxOutputTokens: reservation.maxOutputTokens }),
    });
    reservation.settle(response.usage);
    record(client.label, response.usage);
    return response;
  } catch (error) {
    reservation.release();
    if (request.signal?.aborted) {
      const tokens = inputTokens || estimateInputTokens(request);
      const price = client.price;
      const usage: CallUsage = {
        inputTokens: tokens,
        outputTokens: 0,
        cachedInputTokens: 0,
        costUsd:
          price === undefined
            ? null
            : priceCall(price, { inputTokens: tokens, outputTokens: 0, cachedInputTokens: 0 }),
      };
      budget.estimatedCalls++;
      record(client.label, usage);
      throw new CancelledInFlight(error instanceof Error ? error.message : String(error), usage);
    }
    throw error;
  }
}

/** Refuses a cost limit that could not be kept: a model of unknown price would spend without being counted. */
export function requirePrices(clients: ModelClient[]): void {
  const unknown = clients.find((client) => client.price === undefined);
  if (unknown === undefined) return;
  throw new ConfigError({
    message: `A cost limit (--max-cost, limits.maxCostUsd) needs the price of every model, and the price of ${unknown.label} is unknown: add it with --prices FILE (library: prices) as {"${unknown.label}": {"input": USD per 1M tokens, "output": USD per 1M tokens}}, or use --max-tokens.`,
  });
}
