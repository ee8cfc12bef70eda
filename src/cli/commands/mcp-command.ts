import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm mcp [--model SPEC] [--base-url URL] [--http PORT] [options]

Serves rlmkit to MCP clients (Claude Desktop, Cursor, agents): over stdio by default, over streamable HTTP
with --http. Tools: rlm_run (a question about a context given as text or as paths; the answer, its usage and
the run id come back as structured content; progress notifications while it runs; cancelling the request
cancels the run), and with --memory memory_search and memory_add.

Models:
  --model SPEC          root model, e.g. openai:gpt-5-mini (default: see \`rlm models\`)
  --sub-model SPEC      model for llm_query (default: the root model)
  --base-url URL        base URL of the root model (openai-compatible, ollama, or a proxy)
  --api-key KEY         API key of the root model (else the provider's environment variable)
  --sub-base-url URL    base URL of the sub-model, when it needs its own
  --sub-api-key KEY     API key of the sub-model, when it needs its own
  --prices FILE         JSON price table to add to the built-in one
  --sandbox NAME        isolated-vm (default, JavaScript) or python (Pyodide)
  --call-timeout S      time one attempt of a model call may take, in seconds (default 600)
  --retries N           retries of a failed model call (default 3; 0 for none)
Limits of each run (a call may lower them, never raise them):
  --max-iterations N    root model turns (default 30)
  --max-subcalls N      sub-calls in a run
  --max-depth N         1: sub-calls are plain models (default); 2: rlm_query starts child RLMs
  --max-cost USD        spend at most this much a run (every model needs a known price: see --prices)
  --max-tokens N        tokens a run may spend in all
  --timeout S           wall time of a run in seconds (default 600)
  --concurrency N       sub-calls in flight at once in a run (default 16)
  --cell-timeout S      CPU time one cell may use, in seconds (default 30)
  --cell-memory MB      heap limit of the sandbox in MiB (default 1024)
Server:
  --http PORT           serve streamable HTTP at http://127.0.0.1:PORT/mcp instead of stdio (0: a free port).
                        Every request must send Authorization: Bearer TOKEN (else 401); the URL and the
                        header are printed on stderr
  --http-token TOKEN    the bearer token, at least 32 characters (default: RLM_MCP_TOKEN, else a random one
                        made at start and printed). Other users can see flags in the process list: prefer
                        RLM_MCP_TOKEN, e.g. RLM_MCP_TOKEN=$(openssl rand -base64 32)
  --host HOST           the address to listen on: 127.0.0.1 (default), ::1 or localhost. The server speaks
                        plain HTTP (the token would cross the network in clear), so other addresses are
                        refused; put a TLS proxy in front to reach it from elsewhere
  --root DIR            the folder rlm_run's paths are relative to and may not leave (default: the current one)
  --max-input-mb N      MiB of files one rlm_run may read through paths (default 64)
  --max-concurrent-runs N  runs at once (default 2); more wait in order
  --max-waiting-runs N  runs that may wait (default 16); past it a call is refused as busy
  --trace-dir DIR       write each run's trace to DIR/<runId>.jsonl (see \`rlm trace show\`)
  --otel [URL]          export every run as OpenTelemetry spans (GenAI conventions) to an OTLP/HTTP collector,
                        e.g. http://127.0.0.1:4318 (default: OTEL_EXPORTER_OTLP_ENDPOINT, which alone turns
                        export on); sizes, tokens and cost only
  --otel-content        also put prompts, replies, code, outputs and answers on the spans, secrets redacted
                        (or OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true); clients cannot turn it on
Memory:
  --memory [DB]         use the durable memory as \`rlm run --memory\` does (SQLite file or postgres:// URL;
                        default RLM_MEMORY_DB, else ~/.rlmkit/memory.db), and offer memory_search and memory_add
  --memory-scope S      the memory's namespace (default "default")
  --memory-recall N     items recalled into each run's prompt (default 5; 0 for none)
  --embed-model SPEC    embeddings for memory search
  --no-cases            no case bank (by default each run is recorded as a case; see rlm cases)
  --playbook-budget N   tokens of the playbook in the prompt (default 1500)
  --no-playbook         no playbook (by default one reflector call after each run proposes lessons)
  -h, --help            show this help

Over stdio, stdout carries only the protocol; logs go to stderr. Claude Desktop, for example:
  { "mcpServers": { "rlmkit": { "command": "rlm", "args": ["mcp", "--model", "openai:gpt-5-mini"] } } }
Over HTTP, a client that takes a URL and headers:
  { "mcpServers": { "rlmkit": { "url": "http://127.0.0.1:8765/mcp",
      "headers": { "Authorization": "Bearer <token>" } } } }

Exit codes: 0 after the client closes the connection (stdio) or on Ctrl-C, 2 usage or input error.`;

/** `rlm mcp`: rlmkit as an MCP server; the implementation (the MCP SDK, the engine) loads only when it runs. */
export const mcpCommand: Command = {
  name: "mcp",
  summary: "serve rlm_run (and the memory) to MCP clients over stdio or streamable HTTP",
  help: HELP,
  run: lazyRun(() => import("./mcp-implementation.ts")),
};
