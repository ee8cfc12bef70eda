import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm trace show <run.jsonl>
       rlm trace html <run.jsonl> [-o run.html]
       rlm trace view <run.jsonl> [--port N]
       rlm trace import <official.jsonl> [--out FILE]
       rlm trace replay <official.jsonl> --context <file|dir|glob> [--sandbox python|isolated-vm]

show     prints a trace as a tree: runs, iterations, cells and sub-calls with tokens, cost and time.
         Reads rlmkit traces and logs of the official RLM implementation alike.
html     writes the trace viewer as one self-contained HTML file (no network; open it from disk or attach
         it to a bug report): the run tree with tokens, cost and time per node, each node's code, output,
         prompt and response, a timeline of parallel calls, totals per model, the answer path, errors and
         limit stops, and search. Default -o: the trace's name with .html.
view     serves the same page on http://127.0.0.1 (a free port unless --port) and updates it live while a
         run is still writing the trace. Ctrl-C stops it.
import   converts an official RLM log (metadata and iteration records) into an rlmkit trace
         (on stdout, or into FILE).
replay   re-runs the logged code blocks in our sandbox (python by default) over the given context,
         answering sub-calls with the logged answers, and reports where our output differs from the
         log. Exit code 0 when every block matches, 1 otherwise.

Options:
  -o, --out FILE   where html writes the page, or import the trace
  --port N         the port of view (default 0: a free one)
  --context PATH   the context the logged run worked on (replay)
  --sandbox NAME   python (default for replay) or isolated-vm
  -h, --help       show this help`;

/**
 * `rlm trace`: its name and help load with the CLI; the implementation and its dependencies (the AI SDK, the
 * sandboxes, ...) only when the command runs, so `rlm --help` and other commands start fast.
 */
export const traceCommand: Command = {
  name: "trace",
  summary: "show, view, import or replay run traces",
  help: HELP,
  run: lazyRun(() => import("./trace-implementation.ts")),
};
