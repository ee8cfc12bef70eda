/**
 * A conversation with an RLM: one REPL that lives across questions (RLM.session()).
 *
 * Names in the REPL of a session:
 * - `context` and `context_0`: the first context; `context_1`, `context_2`...: the contexts added by later asks
 *   (the official RLM's spelling for persistent runs). A document list gets no per-document aliases in a session
 *   (they would collide): its documents are `context[i]`.
 * - `history`: the earlier turns, oldest first, as {query, answer, status}; `history_0`, `history_1`...: one turn
 *   each (the official spelling).
 * - every variable the code defined in earlier turns.
 * grep(pattern) and chunk() work on `context`; another context is searched with grep(pattern, {text: context_1}).
 */
import { sessionAliasSetup } from "../context/context-bindings.ts";
import { type ContextInput, type ContextMetadata, describeContext } from "../context/context-input.ts";
import { FileText } from "../context/file-text.ts";
import { UsageError } from "../errors/usage-error.ts";
import type { HostFunction, Sandbox, SandboxOptions, SandboxSession } from "../spec/sandbox.ts";
import type { StandardSchemaV1 } from "../spec/standard-schema.ts";
import type { RLM, RunResult, RunStatus } from "./rlm.ts";
import type { RunEvent } from "./run-events.ts";
import { sessionFirstMessage } from "./session-prompts.ts";

export interface SessionOptions {
  /** The first context (`context`, `context_0`); without it, the first ask must bring one. */
  context?: ContextInput | FileText;
}

export interface AskRequest {
  query: string;
  /**
   * A context for this and later turns: the first one becomes `context`, later ones `context_1`, `context_2`...
   * Only the first context may be a FileText (a file too large for one string).
   */
  context?: ContextInput | FileText;
  /** Validates this turn's final value (see RunRequest.schema). */
  schema?: StandardSchemaV1;
  /** Cancels this turn; the session stays usable. */
  signal?: AbortSignal;
}

/** Characters of a question or a text answer kept in the REPL's `history` (the result keeps the whole answer). */
const MAX_HISTORY_CHARS = 20_000;

function boundedText(text: string): string {
  return text.length > MAX_HISTORY_CHARS ? `${text.slice(0, MAX_HISTORY_CHARS)}... [cut]` : text;
}

/** A turn's answer for `history`: as it is when small, else its text cut to MAX_HISTORY_CHARS. */
function boundedAnswer(answer: unknown): unknown {
  if (answer === undefined || answer === null) return null;
  const text = typeof answer === "string" ? answer : JSON.stringify(answer);
  if (text === undefined || text.length <= MAX_HISTORY_CHARS) return answer;
  return boundedText(text);
}

/** One earlier turn, as `history[i]` / `history_i` hold it in the REPL. */
export interface SessionTurn {
  query: string;
  /** The answer, or null when the turn ended without one. */
  answer: unknown;
  status: RunStatus;
}

/** What a run of the engine needs of a session (internal): the REPL it opens, and the turn's first message. */
export interface SessionRepl {
  /** Opens the session's REPL on the first turn; later turns get the same one, with this turn's host functions. */
  create(options: SandboxOptions): Promise<SandboxSession>;
  /** `view` is how the root model may see a context's description (privacy mode withholds previews). */
  firstMessage(
    query: string,
    answerSchema: string | undefined,
    recalled: string,
    view: (metadata: ContextMetadata) => ContextMetadata,
  ): string;
}

/** A conversation: questions asked one after another over one REPL. Close it when done. */
export class RLMSession implements AsyncDisposable {
  private readonly contexts: Array<ContextInput | FileText> = [];
  /** Contexts already in the REPL as variables (the first comes in through the sandbox's globals). */
  private contextsSet = 0;
  private readonly turns: SessionTurn[] = [];
  private readonly log: RunEvent[] = [];
  private opened: Promise<SandboxSession> | undefined;
  /** The host functions of the turn running now, by name: the REPL's functions call through this table. */
  private routes: Record<string, HostFunction> = {};
  private queue: Promise<unknown> = Promise.resolve();
  private closed = false;

  private readonly rlm: RLM;
  private readonly sandbox: Sandbox;

  /** Made by RLM.session(). */
  constructor(rlm: RLM, sandbox: Sandbox, options: SessionOptions = {}) {
    this.rlm = rlm;
    this.sandbox = sandbox;
    if (options.context !== undefined) this.contexts.push(options.context);
  }

  /** The earlier turns, oldest first. */
  get history(): readonly SessionTurn[] {
    return this.turns;
  }

  /** Every event of the turns that ended, in order (what `rlm chat`'s `/save` writes); live: RLMOptions.onEvent. */
  get events(): readonly RunEvent[] {
    return this.log;
  }

  /** The contexts in the session: index 0 is `context`, index i is `context_i`. */
  get contextCount(): number {
    return this.contexts.length;
  }

  /**
   * Runs one turn and resolves to its result, as RLM.run does (never rejects for model or code failures). Asks
   * made while a turn runs wait for it. Rejects with a UsageError when the session is closed, when no context
   * was given yet, or for a FileText as a later context.
   */
  ask(request: AskRequest): Promise<RunResult> {
    const turn = this.queue.then(() => this.askNow(request));
    this.queue = turn.catch(() => undefined);
    return turn;
  }

  /** Disposes the REPL after the turn in flight (cancel it with its signal to close at once). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.queue;
    const opened = this.opened;
    this.opened = undefined;
    this.routes = {};
    if (opened) await opened.then((session) => session.dispose()).catch(() => undefined);
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  private async askNow(request: AskRequest): Promise<RunResult> {
    if (this.closed) throw new UsageError({ message: "This session is closed." });
    if (typeof request.query !== "string" || request.query.trim() === "") {
      throw new UsageError({ message: "ask({ query }): the question must be a non-empty string." });
    }
    if (request.context !== undefined) {
      if (request.context instanceof FileText && this.contexts.length > 0) {
        throw new UsageError({
          message:
            "Only the first context of a session may be a file too large for one string; later contexts are copied into the REPL.",
        });
      }
      this.contexts.push(request.context);
    }
    const first = this.contexts[0];
    if (first === undefined) {
      throw new UsageError({
        message:
          "The first question of a session needs a context: session({ context }) or ask({ query, context }).",
      });
    }
    const earlier = this.turns.length;
    const contexts = this.contexts.map((context, index) => ({
      name: index === 0 ? "context" : `context_${index}`,
      metadata: describeContext(context),
    }));
    const language = this.sandbox.language;
    const repl: SessionRepl = {
      create: (options) => this.open(options),
      firstMessage: (query, answerSchema, recalled, view) =>
        sessionFirstMessage(
          query,
          contexts.map((context) => ({ ...context, metadata: view(context.metadata) })),
          earlier,
          language,
          answerSchema,
          recalled,
        ),
    };
    const result = await this.rlm.runTurn(
      {
        context: first,
        query: request.query,
        ...(request.schema ? { schema: request.schema } : {}),
        ...(request.signal ? { signal: request.signal } : {}),
      },
      repl,
    );
    this.routes = {};
    // The REPL's copy is bounded: every turn copies the history in, so one huge answer must not grow it forever.
    this.turns.push({
      query: boundedText(request.query),
      answer: boundedAnswer(result.answer),
      status: result.status,
    });
    this.log.push(...result.trace);
    return result;
  }

  /**
   * The REPL for this turn: created on the first turn, then reused; later contexts and history set each turn.
   * Code may have made the REPL refuse new globals (Object.preventExtensions(globalThis), a locked history_0):
   * then the REPL is started afresh, so one turn's code cannot break every later turn (its variables are lost).
   */
  private async open(options: SandboxOptions): Promise<SandboxSession> {
    try {
      return await this.openOnce(options);
    } catch (error) {
      if (this.opened === undefined) throw error;
      const broken = await this.opened.catch(() => undefined);
      broken?.dispose();
      this.opened = undefined;
      return this.openOnce(options);
    }
  }

  private async openOnce(options: SandboxOptions): Promise<SandboxSession> {
    this.routes = options.hostFunctions ?? {};
    if (this.opened === undefined) {
      const routed = Object.fromEntries(
        Object.keys(this.routes).map((name) => [
          name,
          (...args: unknown[]) => {
            const fn = this.routes[name];
            if (fn === undefined) throw new Error(`${name} is not available between turns`);
            return fn(...args);
          },
        ]),
      );
      const first = this.contexts[0];
      this.contextsSet = 1;
      this.opened = this.sandbox.create({
        ...options,
        hostFunctions: routed,
        // The first context's setup, without per-document aliases (context_1... name later contexts here).
        setupCode:
          first instanceof FileText ? (options.setupCode ?? []) : [sessionAliasSetup(this.sandbox.language)],
      });
      // A REPL that failed to start is tried again on the next turn.
      this.opened.catch(() => {
        this.opened = undefined;
      });
    }
    const session = await this.opened;
    // Set as variables, they survive a restart of the REPL after a limit.
    for (; this.contextsSet < this.contexts.length; this.contextsSet++) {
      await session.setVariable(`context_${this.contextsSet}`, this.contexts[this.contextsSet]);
    }
    const history = this.turns.map((turn) => ({ ...turn }));
    await session.setVariable("history", history);
    for (const [index, turn] of history.entries()) await session.setVariable(`history_${index}`, turn);
    return session;
  }
}
