/**
 * Privacy mode (`privacy: { mode: "local" }`, `rlm run --privacy local`): raw context goes only to local models.
 *
 * - Sub-calls carry raw context, so the sub-model, every named model and the memory's embedder must be local;
 *   the RLM refuses to start otherwise (a ConfigError).
 * - The root model may be hosted. It sees only what the code prints, and every request to it (system prompt, the
 *   question, cell outputs, its own replies) passes the redaction filter (./redact.ts) first. The first message's
 *   preview of the context is withheld from it.
 * - Each request to a model that is not local is written to the audit (an event `privacy-audit` in the run's trace
 *   and `onAudit`) before it is sent: model, characters, and how many values of each kind were redacted; never a
 *   value. An audit that cannot be written stops the request.
 */
import type { ModelMessage } from "ai";
import type { ContextMetadata } from "../../context/context-input.ts";
import { ConfigError } from "../../errors/config-error.ts";
import type { ModelClient, ModelRequest } from "../../models/model-client.ts";
import {
  environmentOf,
  type ModelSettings,
  nonEmpty,
  settingsForModel,
  stripTrailingSlash,
} from "../../models/model-settings.ts";
import type { PrivacyAuditEvent } from "../run-events.ts";
import { compilePattern, type RedactionCounts, Redactor } from "./redact.ts";

/** Providers that run on this machine whatever their name: Ollama and node-llama-cpp. */
export const LOCAL_PROVIDERS: readonly string[] = ["ollama", "llamacpp"];

export interface PrivacyOptions {
  /** "local": raw context reaches only local models; what goes to other models is redacted and audited. */
  mode: "local";
  /**
   * More models that run on this machine, by `provider:modelId` label (`openai-compatible:qwen3-8b`, or an AI SDK
   * instance's `provider:modelId`). `ollama:` and `llamacpp:` models are local without being named; an
   * `openai-compatible:` model is local only when named here (a loopback port may be a tunnel).
   */
  localModels?: string[];
  /** Patterns to redact beside the built-in detectors (a string is a regular expression's source). */
  redact?: Array<string | RegExp>;
  /** Called with each request to a non-local model, before it is sent; a throw stops the request. */
  onAudit?: (entry: PrivacyAuditEntry) => void;
}

/** One request that left the machine: sizes and counts only, never a value. */
export interface PrivacyAuditEntry {
  /** Epoch ms, just before the request was sent. */
  at: number;
  /** The run (root or child) that sent it, and its depth. */
  runId: string;
  depth: number;
  /** `provider:modelId`. */
  model: string;
  /** Characters sent (system prompt and messages, after redaction). */
  chars: number;
  /** Values replaced in this request, by kind (`{ email: 2, phone: 1 }`). */
  redactions: RedactionCounts;
}

/** The run a request belongs to, as run events name it. */
export interface RunIdentity {
  runId: string;
  depth: number;
  parentRunId?: string;
  parentCallId?: string;
}

/** Where a run's audit entries go beside `onAudit`: the run's events. */
export type PrivacyAuditSink = (event: PrivacyAuditEvent) => void;

function isLocal(client: ModelClient, named: ReadonlySet<string>): boolean {
  return LOCAL_PROVIDERS.includes(client.resolved.provider) || named.has(client.label);
}

/** How the models of a run connect (the RLM's options), to see which would reach the same server. */
export interface ModelConnections {
  model: unknown;
  subModel?: unknown;
  models?: Record<string, unknown>;
  settings?: ModelSettings;
  subModelSettings?: ModelSettings;
  modelSettings?: Record<string, ModelSettings>;
}

/** The base URL an `openai-compatible:` spec string would be sent to; undefined for anything else. */
function openAiCompatibleUrl(model: unknown, settings: ModelSettings | undefined): string | undefined {
  if (typeof model !== "string" || !model.trim().startsWith("openai-compatible:")) return undefined;
  const url =
    nonEmpty(settings?.baseUrl) ?? nonEmpty(environmentOf(settings ?? {}).OPENAI_COMPATIBLE_BASE_URL);
  return url === undefined ? undefined : stripTrailingSlash(url);
}

const HOW_TO_FIX =
  "give a local model (ollama:..., llamacpp:..., or one named with --local-model SPEC; library: privacy.localModels)";

/** What a run needs to keep to privacy mode: checked once per RLM, then a session per run. */
export class PrivacyPolicy {
  private readonly options: PrivacyOptions;
  private readonly localModels: ReadonlySet<string>;

  /**
   * Throws a ConfigError when a model that sub-calls reach is not local, or the options are not valid.
   * `embedder` is the memory's embedding model label, when the run has a memory with one.
   */
  constructor(
    options: PrivacyOptions,
    models: {
      root: ModelClient;
      sub: ModelClient;
      named: Record<string, ModelClient>;
      embedder?: string;
      /** The options the clients came from: a model named local must not share a hosted root's base URL. */
      connections?: ModelConnections;
    },
  ) {
    if ((options.mode as string) !== "local") {
      throw new ConfigError({
        message: `privacy.mode must be "local", got ${JSON.stringify(options.mode)}.`,
      });
    }
    for (const pattern of options.redact ?? []) compilePattern(pattern);
    this.options = options;
    this.localModels = new Set((options.localModels ?? []).map((label) => label.trim()));
    const { root, sub, named, embedder } = models;
    if (!isLocal(sub, this.localModels)) {
      const which = sub === root ? "the sub-model (the root model, as no other was given)" : "the sub-model";
      throw new ConfigError({
        message: `--privacy local needs a local model for sub-calls: ${which} ${sub.label} is not local; ${HOW_TO_FIX}.`,
      });
    }
    for (const [name, client] of Object.entries(named)) {
      if (!isLocal(client, this.localModels)) {
        throw new ConfigError({
          message: `--privacy local needs a local model for sub-calls: the named model "${name}" (${client.label}) is not local; ${HOW_TO_FIX}.`,
        });
      }
    }
    this.checkSharedServer(models.root, sub, named, models.connections);
    if (embedder !== undefined) {
      const provider = embedder.slice(0, embedder.indexOf(":"));
      if (!LOCAL_PROVIDERS.includes(provider) && !this.localModels.has(embedder)) {
        throw new ConfigError({
          message: `--privacy local needs a local embedding model for the memory: ${embedder} is not local; ${HOW_TO_FIX}.`,
        });
      }
    }
  }

  /**
   * A model named local (not local by its provider) that would be sent to the same base URL as a root that is not
   * local is not local at all: e.g. an `openai-compatible:` sub-model that inherits the root's `--base-url`.
   */
  private checkSharedServer(
    root: ModelClient,
    sub: ModelClient,
    named: Record<string, ModelClient>,
    connections: ModelConnections | undefined,
  ): void {
    if (connections === undefined || this.isLocal(root)) return;
    const rootUrl = openAiCompatibleUrl(connections.model, connections.settings);
    if (rootUrl === undefined) return;
    const check = (
      client: ModelClient,
      input: unknown,
      own: ModelSettings | undefined,
      which: string,
      fix: string,
    ) => {
      if (LOCAL_PROVIDERS.includes(client.resolved.provider)) return;
      const settings = settingsForModel(input, connections.model, connections.settings, own);
      if (openAiCompatibleUrl(input, settings) !== rootUrl) return;
      throw new ConfigError({
        message: `--privacy local needs a local model for sub-calls: ${which} ${client.label} is named local but would be sent to the root model's base URL, which is not local; give it its own (${fix}).`,
      });
    };
    if (connections.subModel !== undefined && sub !== root)
      check(
        sub,
        connections.subModel,
        connections.subModelSettings,
        "the sub-model",
        "--sub-base-url; library: subModelSettings",
      );
    for (const [name, client] of Object.entries(named)) {
      check(
        client,
        connections.models?.[name],
        connections.modelSettings?.[name],
        `the named model "${name}"`,
        "library: modelSettings",
      );
    }
  }

  /** Whether a model runs on this machine (its requests are neither redacted nor audited). */
  isLocal(client: ModelClient): boolean {
    return isLocal(client, this.localModels);
  }

  /** The privacy state of one run tree: one Redactor, so placeholders are stable across the tree's requests. */
  session(sink: PrivacyAuditSink): PrivacySession {
    return new PrivacySession(this, this.options, sink);
  }
}

/** What the root model reads instead of the context's preview; it fits the first message's 300 characters. */
export const WITHHELD_PREVIEW =
  "(withheld: privacy mode keeps the raw context from you. What your code prints reaches you redacted: e-mails, phones, card/account numbers, keys and IPs become placeholders like [EMAIL_n], which are not in `context`. llm_query runs on a local model and may get raw text.)";

/** Messages already redacted, kept for the next request of the conversation (most are sent again and again). */
const MEMO_LIMIT = 512;

export class PrivacySession {
  private readonly policy: PrivacyPolicy;
  private readonly options: PrivacyOptions;
  private readonly sink: PrivacyAuditSink;
  private readonly redactor: Redactor;
  private readonly memo = new Map<string, { text: string; counts: RedactionCounts }>();

  constructor(policy: PrivacyPolicy, options: PrivacyOptions, sink: PrivacyAuditSink) {
    this.policy = policy;
    this.options = options;
    this.sink = sink;
    this.redactor = new Redactor({ patterns: options.redact ?? [] });
  }

  /** The context's description as a model may read it: without the preview when the model is not local. */
  metadataFor(client: ModelClient, metadata: ContextMetadata): ContextMetadata {
    return this.policy.isLocal(client) ? metadata : { ...metadata, preview: WITHHELD_PREVIEW };
  }

  /**
   * The client to call for one run: itself when local; otherwise one whose requests are redacted and audited
   * (for `run`, at `depth`) before they go to `client`.
   */
  guard(client: ModelClient, run: RunIdentity): ModelClient {
    if (this.policy.isLocal(client)) return client;
    const generate = (request: ModelRequest) => client.generate(this.outgoing(client.label, request, run));
    // Everything else (label, price, events) is the client's own, read on the client itself.
    return new Proxy(client, {
      get(target, property) {
        if (property === "generate") return generate;
        const value: unknown = Reflect.get(target, property, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
  }

  private redact(text: string, counts: RedactionCounts): string {
    let known = this.memo.get(text);
    if (known === undefined) {
      const found: RedactionCounts = {};
      known = { text: this.redactor.redact(text, found), counts: found };
      if (this.memo.size >= MEMO_LIMIT) this.memo.clear();
      this.memo.set(text, known);
    }
    for (const [kind, count] of Object.entries(known.counts) as Array<[keyof RedactionCounts, number]>)
      counts[kind] = (counts[kind] ?? 0) + count;
    return known.text;
  }

  private redactMessage(message: ModelMessage, counts: RedactionCounts): ModelMessage {
    if (typeof message.content === "string")
      return { ...message, content: this.redact(message.content, counts) } as ModelMessage;
    const parts = (message.content as Array<{ type: string; text?: unknown }>).map((part) => {
      if ((part.type === "text" || part.type === "reasoning") && typeof part.text === "string")
        return { ...part, text: this.redact(part.text, counts) };
      // Anything else (files, images, tool calls) cannot be checked, so it is not sent.
      throw new ConfigError({
        message: `privacy mode sends only text to a model that is not local; a message part of type "${part.type}" was refused.`,
      });
    });
    return { ...message, content: parts } as ModelMessage;
  }

  /** The request as it may leave the machine, written to the audit first. */
  private outgoing(model: string, request: ModelRequest, run: RunIdentity): ModelRequest {
    const redactions: RedactionCounts = {};
    const system = request.system === undefined ? undefined : this.redact(request.system, redactions);
    const prompt = request.prompt === undefined ? undefined : this.redact(request.prompt, redactions);
    const messages = request.messages?.map((message) => this.redactMessage(message, redactions));
    const chars =
      (system?.length ?? 0) +
      (prompt?.length ?? 0) +
      (messages ?? []).reduce(
        (sum, message) =>
          sum +
          (typeof message.content === "string"
            ? message.content.length
            : (message.content as Array<{ text?: string }>).reduce(
                (inner, part) => inner + (part.text?.length ?? 0),
                0,
              )),
        0,
      );
    const entry: PrivacyAuditEntry = {
      at: Date.now(),
      runId: run.runId,
      depth: run.depth,
      model,
      chars,
      redactions,
    };
    this.options.onAudit?.(entry);
    this.sink({ type: "privacy-audit", ...run, ...entry });
    return {
      ...request,
      ...(system === undefined ? {} : { system }),
      ...(prompt === undefined ? {} : { prompt }),
      ...(messages === undefined ? {} : { messages }),
    };
  }
}
