import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm chat --context <file|dir|glob> [options]

A conversation over one input: each question is one RLM turn in a REPL that lives across questions.
Variables persist; earlier questions and answers are \`history\` (and history_0, history_1, ...); the input
is \`context\` (also context_0) and inputs added with /context are context_1, context_2, ...

On a terminal: type a question at the "> " prompt. Ctrl-C cancels the turn in flight (at an empty prompt
it ends the chat), Ctrl-D ends it. Each answer is followed by its usage line (on stderr).
  /save FILE            write every event of the session so far to a JSONL trace (see \`rlm trace show\`)
  /context PATH         add another input, as context_N from the next question on
  /help                 list these commands
When standard input is not a terminal, it reads one question per line (the / commands work too) and prints
each answer; exit code 0 when every turn completed, else 1.

Options:
  --context PATH        a file, a directory or a glob (not -: standard input holds the questions); may repeat
  --json                print each turn as one line of JSON {answer, status, usage, ...}
  --model, --sub-model, --named-model, --base-url, --api-key, --sub-base-url, --sub-api-key, --prices,
  --cache-dir, --sandbox, --prompt-style, --python-packages, --max-iterations, --max-subcalls, --max-errors,
  --max-depth, --max-cost, --max-tokens, --timeout, --concurrency, --cell-timeout, --cell-memory,
  --output-limit, --context-window, --call-timeout, --retries, --no-goal-header, --no-subcall-cache,
  --verify, --compaction
                        as for \`rlm run\` (see \`rlm run --help\`); limits apply to each turn
  -h, --help            show this help

Exit codes: 0 done, 1 a turn did not complete (non-terminal input), 2 usage or input error.`;

/** `rlm chat`: its name and help load with the CLI; the implementation only when the command runs. */
export const chatCommand: Command = {
  name: "chat",
  summary: "a conversation over a large input, one REPL across questions",
  help: HELP,
  run: lazyRun(() => import("./chat-implementation.ts")),
};
