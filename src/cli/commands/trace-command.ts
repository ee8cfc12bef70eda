import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm trace show <run.jsonl>
       rlm trace import <official.jsonl> [--out FILE]
       rlm trace replay <official.jsonl> --context <file|dir|glob> [--sandbox python|isolated-vm]

show     prints a trace as a tree: runs, iterations, cells and sub-calls with tokens, cost and time.
         Reads rlmkit traces and logs of the official RLM implementation alike.
import   converts an official RLM log (metadata and iteration records) into an rlmkit trace
         (on stdout, or into FILE).
replay   re-runs the logged code blocks in our sandbox (python by default) over the given context,
         answering sub-calls with the logged answers, and reports where our output differs from the
         log. Exit code 0 when every block matches, 1 otherwise.

Options:
  --out FILE       where import writes the trace
  --context PATH   the context the logged run worked on (replay)
  --sandbox NAME   python (default for replay) or isolated-vm
  -h, --help       show this help`;

/**
 * `rlm trace`: its name and help load with the CLI; the implementation and its dependencies (the AI SDK, the
 * sandboxes, ...) only when the command runs, so `rlm --help` and other commands start fast.
 */
export const traceCommand: Command = {
  name: "trace",
  summary: "show, import or replay run traces",
  help: HELP,
  run: lazyRun(() => import("./trace-implementation.ts")),
};
