import { STRATEGY_NAMES } from "../../strategies/strategy-names.ts";
import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm bench --suite a,b --sizes 8k,32k --strategies direct,rlm --tasks N --model SPEC --out DIR
       rlm bench --list

Runs generated long-context suites with several strategies and writes DIR/results.json (one row per task
run), DIR/results.md (accuracy, tokens, cost, p50/p95 latency per size and strategy) and DIR/plot.svg.
An interrupted run resumes without redoing finished tasks.

Memory on vs off: the memory suite gives each task a user's earlier chat sessions, where facts change, as a
history outside the context, and asks for the latest value, a past value, or a fact never stated (unknown).
--strategies rlm,rlm+memory compares the RLM without memory (it sees only today's session) with the RLM that
recalls from a fresh memory of that history: per task, each session is stored as dated episodes in a temporary
SQLite memory and consolidated with the sub-model (else the model); those calls' tokens and cost are counted in
the row (memoryCalls, memoryCostUsd, ...). Other suites have no history: rlm+memory runs with an empty memory.

Learning on vs off: the learning suite is a stream of recurring task families with fresh data, each with a trap
that a past failure reveals. --strategies rlm,rlm+learning runs the stream in order (task 0, 1, 2...) without and
with the case bank and the playbook, over one memory per suite and size: after each task its score goes to the
case bank as the run's outcome, and the playbook's reflector (the sub-model, else the model) reviews the run with
the scorer's verdict; the reflector's tokens and cost are counted in the row (learningCalls, learningCostUsd...).
results.md gains a learning curve per stream and learning-curve.svg plots it. Without --learning-db the memory is
temporary and a stream cut short runs again from task 0. Offline, a scripted model only proves the plumbing.

Options:
  --suite LIST          suites (see --list); default sniah
  --sizes LIST          input sizes in tokens: 8k, 32k, 128k, 1m, 4m...; default 8k
  --strategies LIST     ${STRATEGY_NAMES.join(", ")}, rlm+memory, rlm+learning; default rlm
  --tasks N             tasks per suite and size (default 5)
  --model SPEC          root model (default: see \`rlm models\`)
  --sub-model SPEC      model for sub-calls
  --base-url URL        base URL for openai-compatible or ollama models
  --api-key KEY         API key (else the provider's environment variable)
  --prices FILE         JSON price table to add to the built-in one
  --cache-dir DIR       cache model responses on disk
  --sandbox NAME        the RLM's REPL: isolated-vm (default) or python
  --concurrency N       sub-calls in flight at once per run (default 16)
  --max-iterations N    RLM turns per task (default 30)
  --timeout S           wall time per task in seconds
  --max-cost USD        spend per task at most this much (every model needs a known price)
  --trace DIR           write one trace per task run to DIR/SUITE-SIZE-STRATEGY-TASK.jsonl, as \`rlm run --trace\`
                        does (a retry adds -attempt2; none is overwritten); each row's "trace" names its file
  --learning-db FILE    rlm+learning's memory (SQLite file or postgres:// URL), one scope per suite and size:
                        kept between runs, so an interrupted stream resumes with what it learned
  --json                print {out, rows} on stdout when done
  --seed N              generator seed (default 1)
  --out DIR             where the results go (required)
  --list                list the suites
  -h, --help            show this help`;

/**
 * `rlm bench`: its name and help load with the CLI; the implementation and its dependencies (the AI SDK, the
 * sandboxes, ...) only when the command runs, so `rlm --help` and other commands start fast.
 */
export const benchCommand: Command = {
  name: "bench",
  summary: "measure strategies on generated long-context suites",
  help: HELP,
  run: lazyRun(() => import("./bench-implementation.ts")),
};
