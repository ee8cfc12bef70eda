import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm serve [--host 127.0.0.1] [--port 8787] [--model SPEC] [--sub-model SPEC]
                 [--base-url URL] [--keys FILE] [--db DB] [--max-concurrent-runs N] [--prices FILE]

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
