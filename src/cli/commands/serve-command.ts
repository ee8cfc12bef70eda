import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm serve [--host 127.0.0.1] [--port 8787] [--model SPEC] [--sub-model SPEC]
                 [--base-url URL] [--keys FILE] [--db DB] [--max-concurrent-runs N] [--prices FILE]
                 [--otel [URL]] [--otel-content] [--memory [DB]]

Serves the RLM as an OpenAI-compatible API: any OpenAI client talks to it with base URL
http://HOST:PORT/v1 and model "rlm". The conversation is the run's context; the task is its last
user message. Also a jobs API (/v1/runs) for long runs.

Endpoints:
  GET    /v1/models               rlm, and rlm:<spec> per configured model
  POST   /v1/chat/completions     stream or not; rlmkit options in an optional "rlm" object:
                                  {"limits": {...}, "sandboxLimits": {...}, "sandbox": "python", "strategy": "rlm"}
  POST   /v1/runs                 the same body plus "context" (a text, or [{"name", "text"}]) -> {id, status}
  GET    /v1/runs/ID              {id, status, result}; result is what rlm run --json prints
  GET    /v1/runs/ID/events       the run's events (SSE)
  DELETE /v1/runs/ID              cancel it

Options:
  --host HOST               address to listen on (default 127.0.0.1); any other than loopback needs --keys
  --port N                  port (default 8787; 0 picks a free one)
  --model SPEC              a root model to offer; may repeat; the first is "rlm" (default: see rlm models)
  --sub-model SPEC          model for llm_query (default: the root model)
  --base-url URL            base URL of the models' server (openai-compatible, ollama, or a proxy)
  --keys FILE               API keys (rlm keys add NAME --keys FILE); without it the server is open
  --db DB                   postgres://... : /v1/runs are queued in PostgreSQL for rlm worker processes
                            (default: runs execute in this process)
  --max-concurrent-runs N   runs executing here at once (default 8); more wait in line, and a chat
                            completion that finds the line full gets 429
  --prices FILE             JSON price table to add to the built-in one (needed for keys' cost budgets)
  --otel [URL]              export every run executed here as OpenTelemetry spans (GenAI conventions) to
                            an OTLP/HTTP collector, e.g. http://127.0.0.1:4318 (default:
                            OTEL_EXPORTER_OTLP_ENDPOINT, which alone turns export on); with --db, give the
                            workers --otel for the runs of /v1/runs
  --otel-content            also put prompts, replies, code, outputs and answers on the spans, secrets
                            redacted (or OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true); requests
                            cannot turn it on
  --memory [DB]             a durable memory for the runs (rlm strategy): recall into each run's prompt,
                            memory_search / memory_add in the REPL, each run stored as an episode and a case;
                            DB is a SQLite file or postgres:// URL (default: the --db database, else
                            ~/.rlmkit/memory.db); each API key's runs use a scope of their own (key:NAME)
  --memory-recall N         items recalled into each run's prompt
  --embed-model SPEC        embeddings for memory search (e.g. openai:text-embedding-3-small)
  --no-cases                no case bank
  -h, --help                show this help

Model API keys come from the environment (OPENAI_API_KEY, ...), never from requests.
Stops on Ctrl-C or SIGTERM: runs in flight are cancelled.`;

/** `rlm serve`: the OpenAI-compatible server (implementation loaded only when it runs). */
export const serveCommand: Command = {
  name: "serve",
  summary: "serve the RLM as an OpenAI-compatible API (chat completions, jobs)",
  help: HELP,
  run: lazyRun(() => import("./serve-implementation.ts")),
};
