/** The implementation of `rlm chat`, loaded only when the command runs (see ./chat-command.ts). */
import { renameSync, rmSync, writeFileSync } from "node:fs";
import { createInterface, type Interface } from "node:readline";
import type { ContextInput } from "../../context/context-input.ts";
import { FileText } from "../../context/file-text.ts";
import { loadContext } from "../../context/load-context.ts";
import { createRLM } from "../../engine/rlm.ts";
import type { RLMSession } from "../../engine/rlm-session.ts";
import { UsageError } from "../../errors/usage-error.ts";
import { collectSecrets, redactSecrets } from "../../models/redact-secrets.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import { parseOptions } from "../parse-options.ts";
import { OPTIONS, printResult, type RunValues, readRunOptions } from "./run-implementation.ts";

// rlm run's options, less those about one question (the chat asks many) and what chat does not offer.
const {
  query: _query,
  "query-file": _queryFile,
  strategy: _strategy,
  schema: _schema,
  trace: _trace,
  memory: _memory,
  "memory-scope": _memoryScope,
  "memory-recall": _memoryRecall,
  "embed-model": _embedModel,
  "no-cases": _noCases,
  ...CHAT_OPTIONS
} = OPTIONS;

const CHAT_HELP = `/save FILE     write the session's trace (JSONL) to FILE
/context PATH  add an input: context_N from the next question on
/help          this list
Ctrl-C cancels a turn in flight; Ctrl-D (or Ctrl-C at an empty prompt) ends the chat.`;

/** Everything a chat does, whatever its input: questions become turns, / commands act on the session. */
class Chat {
  /** Contexts added with /context, handed to the next turn. */
  private readonly pending: ContextInput[] = [];
  private readonly session: RLMSession;
  private readonly io: CliIo;
  private readonly json: boolean;
  private readonly secrets: string[];
  /** The turn in flight, to cancel. */
  current: AbortController | undefined;
  allCompleted = true;
  /** Standard input is not a terminal: every question gets a line on stdout, empty without an answer. */
  piped = false;

  constructor(session: RLMSession, io: CliIo, json: boolean, secrets: string[]) {
    this.session = session;
    this.io = io;
    this.json = json;
    this.secrets = secrets;
  }

  /** Handles one line of input: a question, a / command, or nothing. */
  async line(text: string): Promise<void> {
    const line = text.trim();
    if (line === "") return;
    if (line.startsWith("/")) return this.command(line);
    const controller = new AbortController();
    this.current = controller;
    const contexts = this.pending.splice(0);
    try {
      // A turn takes one new context: more added at once are joined into a list of them.
      const context = contexts.length === 0 ? undefined : contexts.length === 1 ? contexts[0] : contexts;
      const result = await this.session.ask({
        query: line,
        signal: controller.signal,
        ...(context === undefined ? {} : { context }),
      });
      if (result.status !== "completed") this.allCompleted = false;
      const answer = result.answer ?? result.partialAnswer;
      // One answer per question on stdout, an empty line when a turn found none.
      if (this.piped && !this.json && (answer === undefined || answer === null))
        writeLine(this.io.stdout, "");
      printResult(result, this.io, this.json);
    } finally {
      this.current = undefined;
    }
  }

  private async command(line: string): Promise<void> {
    const [name = "", ...rest] = line.split(/\s+/);
    const argument = rest.join(" ");
    if (name === "/save" && argument !== "") return this.save(argument);
    if (name === "/context" && argument !== "") {
      try {
        const context = await loadContext([argument]);
        if (context instanceof FileText) {
          context.close();
          throw new UsageError({
            message: `${argument} is too large for one string: only the first input of a chat (--context) may be.`,
          });
        }
        this.pending.push(context);
        const name = `context_${this.session.contextCount + this.pending.length - 1}`;
        writeLine(this.io.stderr, `added ${argument} as ${name} (from the next question on)`);
      } catch (error) {
        writeLine(this.io.stderr, `error: ${(error as Error).message}`);
      }
      return;
    }
    if (name === "/help") {
      writeLine(this.io.stderr, CHAT_HELP);
      return;
    }
    writeLine(
      this.io.stderr,
      `Unknown command ${name}${argument === "" ? "" : " (or it needs an argument)"}.`,
    );
    writeLine(this.io.stderr, CHAT_HELP);
  }

  /** `/save FILE`: every event so far as JSONL, secrets redacted, written to a temporary file then renamed. */
  private save(path: string): void {
    const temporary = `${path}.${process.pid}.tmp`;
    try {
      const text = this.session.events
        .map((event) => `${redactSecrets(JSON.stringify(event), this.secrets)}\n`)
        .join("");
      writeFileSync(temporary, text);
      renameSync(temporary, path);
      writeLine(this.io.stderr, `saved ${this.session.events.length} events to ${path}`);
    } catch (error) {
      rmSync(temporary, { force: true });
      writeLine(
        this.io.stderr,
        `error: cannot write ${path}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`,
      );
    }
  }
}

/** Standard input is not a terminal: one question per line, until its end. Ctrl-C cancels and stops. */
async function readLines(chat: Chat, io: CliIo): Promise<number> {
  chat.piped = true;
  let interrupted = false;
  const onInterrupt = () => {
    if (interrupted) process.exit(130);
    interrupted = true;
    writeLine(io.stderr, "\ncancelling (Ctrl-C again to quit at once)...");
    chat.current?.abort();
  };
  process.on("SIGINT", onInterrupt);
  const lines = createInterface({ input: process.stdin, crlfDelay: Number.POSITIVE_INFINITY });
  try {
    for await (const line of lines) {
      if (interrupted) break;
      await chat.line(line);
    }
  } finally {
    lines.close();
    process.off("SIGINT", onInterrupt);
  }
  if (interrupted) return 130;
  return chat.allCompleted ? EXIT.ok : EXIT.failed;
}

/** A terminal: a "> " prompt; Ctrl-C cancels the turn in flight or ends at an empty prompt; Ctrl-D ends. */
function converse(chat: Chat, io: CliIo): Promise<number> {
  const prompt: Interface = createInterface({
    input: process.stdin,
    output: io.stdout,
    terminal: true,
    prompt: "> ",
  });
  let busy = false;
  let ended = false;
  return new Promise((resolve) => {
    const end = () => {
      if (ended) return;
      ended = true;
      chat.current?.abort();
      prompt.close();
      resolve(EXIT.ok);
    };
    prompt.on("SIGINT", () => {
      if (chat.current) {
        writeLine(io.stderr, "\ncancelling the turn...");
        chat.current.abort();
      } else if (prompt.line !== "") {
        // Ctrl-C with text typed: drop the text, as shells do.
        prompt.write("", { ctrl: true, name: "u" });
      } else {
        writeLine(io.stdout);
        end();
      }
    });
    prompt.on("close", end);
    prompt.on("line", (line) => {
      if (busy) {
        writeLine(io.stderr, "(a turn is running: wait for its answer, or Ctrl-C to cancel it)");
        return;
      }
      busy = true;
      void chat
        .line(line)
        .catch((error: unknown) => writeLine(io.stderr, `error: ${(error as Error).message}`))
        .finally(() => {
          busy = false;
          if (!ended) prompt.prompt();
        });
    });
    writeLine(io.stderr, "rlm chat: ask about the input; /help for commands, Ctrl-D to end.");
    prompt.prompt();
  });
}

/** Runs `rlm chat` and resolves to its exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values } = parseOptions("chat", args, CHAT_OPTIONS);
  const contextPaths = values.context ?? [];
  if (contextPaths.includes("-")) {
    throw new UsageError({
      message: "rlm chat reads its questions from standard input: give the input as a file, folder or glob.",
    });
  }
  // The options are read as rlm run reads them; the question placeholder only passes its check.
  const { options } = await readRunOptions({ ...values, query: "(chat)" } as RunValues, io);
  if (!options.sandbox?.isolated) {
    writeLine(
      io.stderr,
      `warning: the ${options.sandbox?.name} sandbox is not isolated; use it only for trusted inputs.`,
    );
  }
  const context = await loadContext(contextPaths);
  const session = createRLM(options).session({ context });
  const secrets = collectSecrets(io.env, [values["api-key"], values["sub-api-key"]]);
  const chat = new Chat(session, io, values.json === true, secrets);
  try {
    return process.stdin.isTTY ? await converse(chat, io) : await readLines(chat, io);
  } finally {
    chat.current?.abort();
    await session.close();
    if (context instanceof FileText) context.close();
  }
}
