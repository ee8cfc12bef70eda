import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm worker --db postgres://... --model SPEC [--model SPEC ...] [--sub-model SPEC]
                  [--base-url URL] [--max-concurrent-runs N] [--prices FILE] [--poll-interval S]
                  [--otel [URL]] [--otel-content] [--memory [DB]]

Runs the runs that rlm serve --db postgres://... queues (POST /v1/runs). Start any number of workers,
on any machines that reach the database: each takes runs as it has room, stores their events and
results in the database, and heartbeats while it runs one. A run whose worker dies (killed, machine
lost) goes to another worker within about 45 s; after 3 starts it fails with the reason. Give the
same models as the server: a run names its model, and a worker runs only the models it was given.

Options:
  --db URL                  the PostgreSQL database rlm serve --db queues runs in (required)
  --model SPEC              a root model runs may name, as rlm serve --model; may repeat (required)
  --sub-model SPEC          model for llm_query (default: the root model)
  --base-url URL            base URL of the models' server (openai-compatible, ollama, or a proxy)
  --max-concurrent-runs N   runs this worker executes at once (default 2)
  --prices FILE             JSON price table to add to the built-in one (as rlm serve --prices)
  --poll-interval S         how often an idle worker looks for retried runs, in seconds (default 2,
                            at least 0.5); new runs wake it at once
  --otel [URL]              export every run this worker executes as OpenTelemetry spans (GenAI conventions)
                            to an OTLP/HTTP collector, e.g. http://127.0.0.1:4318 (default:
                            OTEL_EXPORTER_OTLP_ENDPOINT, which alone turns export on)
  --otel-content            also put prompts, replies, code, outputs and answers on the spans, secrets
                            redacted (or OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true)
  --memory [DB]             a durable memory for the runs (rlm strategy): recall into each run's prompt,
                            memory_search / memory_add in the REPL, each run stored as an episode and a case;
                            DB is a SQLite file or postgres:// URL (default: the --db database, else
                            ~/.rlmkit/memory.db); a run keeps the scope rlm serve gave it (key:NAME)
  --memory-recall N         items recalled into each run's prompt
  --embed-model SPEC        embeddings for memory search (e.g. openai:text-embedding-3-small)
  --no-cases                no case bank
  -h, --help                show this help

Model API keys come from the environment (OPENAI_API_KEY, ...).
Stops on Ctrl-C or SIGTERM: it takes no more runs, and runs in flight get 10 s to finish before they
go back to the queue for another worker; a second Ctrl-C sends them back at once.`;

/** `rlm worker`: executes queued runs from PostgreSQL (implementation loaded only when it runs). */
export const workerCommand: Command = {
  name: "worker",
  summary: "run the runs rlm serve queues in PostgreSQL (any number of workers, any machines)",
  help: HELP,
  run: lazyRun(() => import("./worker-implementation.ts")),
};
