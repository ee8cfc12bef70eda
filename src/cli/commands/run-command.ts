import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm run --context <file|dir|glob|-> --query <text> [options]

Answers a question about an input of any size: the input stays in a sandboxed REPL, the model
writes code to search and split it and calls sub-models on the pieces.

Input:
  --context PATH        a file, a directory, a glob or - (stdin); may repeat
  --query TEXT          the question
  --query-file FILE     read the question from a file
Models:
  --model SPEC          root model, e.g. openai:gpt-5-mini (default: see \`rlm models\`)
  --sub-model SPEC      model for llm_query (default: the root model)
  --named-model N=SPEC  another model the code may route to with llm_query(p, {model: "N"}); may repeat
  --base-url URL        base URL of the root model (openai-compatible, ollama, or a proxy); also used by
                        other models of the same provider, never by another provider's models
  --api-key KEY         API key of the root model (else the provider's environment variable)
  --sub-base-url URL    base URL of the sub-model, when it needs its own
  --sub-api-key KEY     API key of the sub-model, when it needs its own
  --prices FILE         JSON price table to add to the built-in one
  --cache-dir DIR       cache model responses on disk (reproducible runs)
Strategy, sandbox and limits:
  --strategy NAME       rlm (default), direct, memagent, mapreduce or rag
  --sandbox NAME        isolated-vm (default, JavaScript) or python (Pyodide)
  --prompt-style NAME   how the prompt teaches finishing: rlmkit (default), paper (FINAL in prose) or
                        official (answer content/ready); all are accepted whichever is taught
  --python-packages DIR Pyodide packages (wheels + pyodide-lock.json) the Python sandbox may load
  --max-iterations N    root model turns (default 30)
  --max-subcalls N      sub-calls in the whole run
  --max-errors N        stop after N cells in a row that raise an error
  --max-depth N         1: sub-calls are plain models (default); 2: rlm_query starts child RLMs
  --max-cost USD        spend at most this much (every model needs a known price: see --prices)
  --max-tokens N        spend at most this many tokens in all (calls reserve before they are sent)
  --timeout S           wall time of the run in seconds
  --concurrency N       sub-calls in flight at once (default 16)
  --cell-timeout S      CPU time one cell may use, in seconds (default 30)
  --cell-memory MB      heap limit of the sandbox in MiB (default 1024)
  --output-limit N      characters of a cell's output the model reads (default 20000)
  --tools FILE.mjs      the user's own tools in the REPL, listed in the prompt: the module's default export is
                        { lookup_price: { description, parameters?, execute(args) } } (an AI SDK tool() works
                        as is); code calls lookup_price({ sku }) (Python: lookup_price(sku=...)), and execute
                        runs here with a copy of the arguments
  --sub-tools FILE.mjs  tools the sub-models of llm_query may call (the official custom_sub_tools)
  --tool-timeout S      time one tool call may take, in seconds (default 60)
  --max-tool-calls N    tool calls in the whole run (default 1000)
  --schema FILE         a JSON Schema the final answer must match (the model sees it, and retries until
                        FINAL's value matches)
  --call-timeout S      time one attempt of a model call may take, in seconds (default 600)
  --retries N           retries of a failed model call (default 3; 0 for none)
  --context-window N    window in tokens of models the built-in table lacks (default 128000); N for the
                        root and sub-model, or SPEC=N for one model; may repeat
  --no-goal-header      do not prefix sub-call prompts with the overall question
  --no-subcall-cache    send identical sub-calls again instead of reusing the answer
Privacy:
  --privacy local       raw context goes only to local models: the sub-model and named models must be
                        local (else exit 2); the root model sees no preview of the context, and everything
                        sent to a model that is not local is redacted (e-mails, phones, card and account
                        numbers, keys and tokens, IPs -> placeholders such as [EMAIL_1])
  --local-model SPEC    count this model as local (ollama: and llamacpp: are; an openai-compatible: model
                        only when named here); may repeat
  --redact REGEX        also redact what this regular expression matches; may repeat
  --audit FILE          append each request that left the machine (model, size, redaction counts, never a
                        value) to a JSONL file; the trace gets them as privacy-audit events too
Output:
  --trace FILE          write every event to a JSONL trace (see \`rlm trace show\`)
  --otel [URL]          export the run as OpenTelemetry spans (GenAI conventions) to an OTLP/HTTP collector,
                        e.g. http://127.0.0.1:4318 (default: OTEL_EXPORTER_OTLP_ENDPOINT, which alone turns
                        export on; headers from OTEL_EXPORTER_OTLP_HEADERS); sizes, tokens and cost only
  --otel-content        also put prompts, replies, code, outputs and answers on the spans, secrets redacted
                        (or OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT=true)
  --verify              before the answer is accepted, a verification turn checks it against the context with
                        code and confirms or corrects it (result: verification {status, evidence, usage})
  --compaction MODE     near the root model's window: summary (default: the model sums up, the conversation
                        restarts from it, the earlier messages stay in the REPL as compaction_history) or trim
  --memory [DB]         use the durable memory (SQLite file or postgres:// URL; default RLM_MEMORY_DB, else
                        ~/.rlmkit/memory.db): items that fit the question go into the prompt as data, the REPL
                        gets memory_search and memory_add, and the question and answer are stored (see rlm memory)
  --memory-scope S      the memory's namespace (default "default")
  --memory-recall N     items recalled into the prompt (default 5; 0 for none)
  --embed-model SPEC    embeddings for memory search (openai:text-embedding-3-small, ollama:nomic-embed-text)
  --no-cases            with --memory: no case bank (by default each run is recorded as a case, and the 4 most
                        useful similar cases go into the prompt as worked examples; see rlm cases, rlm feedback)
  --playbook-budget N   with --memory: tokens of the playbook in the prompt (default 1500; see rlm playbook)
  --no-playbook         with --memory: no playbook (by default its lessons go into the prompt, the bullets the
                        root cites are tagged, and one reflector call after the run proposes new lessons)
  --json                print {runId, answer, status, usage, iterations, subcalls, durationMs} on stdout
  -h, --help            show this help

Exit codes: 0 completed, 1 any other status, 2 usage or input error. Ctrl-C cancels and prints what was found.`;

/**
 * `rlm run`: its name and help load with the CLI; the implementation and its dependencies (the AI SDK, the
 * sandboxes, ...) only when the command runs, so `rlm --help` and other commands start fast.
 */
export const runCommand: Command = {
  name: "run",
  summary: "answer a question about a large input with a Recursive Language Model",
  help: HELP,
  run: lazyRun(() => import("./run-implementation.ts")),
};
