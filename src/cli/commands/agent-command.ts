import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm agent --task <text> [options]

Works on a task with tools in a loop (the AI SDK's tool loop): the model calls tools, reads their
results and answers. At a limit one last call turns what it has into an answer. The planner's,
executor's, synthesis' and verification's calls all count against the limits; the last call, the
synthesis and the verification (at most 3 calls) come on top of --max-steps.

Task and model:
  --task TEXT           the task
  --task-file FILE      read the task from a file
  --model SPEC          the model, e.g. openai:gpt-5-mini (default: see \`rlm models\`)
  --base-url URL        base URL of the model (openai-compatible, ollama, or a proxy)
  --api-key KEY         API key of the model (else the provider's environment variable)
  --prices FILE         JSON price table to add to the built-in one
Tools:
  --tools LIST          comma-separated: web_search, fetch_url, calculator, run_code, rlm_query, ask_llm,
                        memory_search, memory_add (default: every one available; web_search needs a search
                        provider in the environment, the memory tools --memory)
  --mcp FILE            also the tools of the MCP servers in this JSON file
  --allow-private-urls  fetch_url may fetch private and loopback addresses (an intranet you trust)
  --memory [DB]         durable memory (SQLite file or postgres:// URL; default RLM_MEMORY_DB, else
                        ~/.rlmkit/memory.db): recall into the prompt, memory tools, the run kept as a case
Limits:
  --max-steps N         model steps (default 20)
  --max-tool-calls N    tool calls (default 100)
  --max-tokens N        tokens over all calls
  --max-cost USD        spend at most this much (every model needs a known price: see --prices)
  --timeout S           wall time of the run in seconds
Planning and verification:
  --plan                a planner call writes a short plan (steps and the tool each needs; with --memory
                        informed by similar earlier runs), an executor runs each step with the tools, a
                        failed step may revise the plan, a last call writes the answer from the results
  --verify              before the answer is given, check its claims against what the tools returned
                        (search results, pages, code output; not ask_llm); unsupported claims are revised
                        or marked [unverified] (on by default with --plan)
  --no-verify           --plan without the verification
Output:
  --trace FILE          write every event to a JSONL trace (see \`rlm trace show\`)
  --otel [URL]          export the run as OpenTelemetry spans (GenAI conventions) to an OTLP/HTTP collector
                        (default: OTEL_EXPORTER_OTLP_ENDPOINT, which alone turns export on)
  --otel-content        also put prompts, replies, tool arguments and results on the spans, secrets redacted
  --json                print {answer, status, stopReason, runId, steps, toolCalls, usage, verification,
                        durationMs} on stdout
  -h, --help            show this help

Exit codes: 0 completed, 1 a limit or a failure ended it, 2 usage or input error.`;

/** `rlm agent`: a tool-using agent; the implementation loads only when the command runs. */
export const agentCommand: Command = {
  name: "agent",
  summary: "work on a task with tools (web search, fetch, code, RLM, MCP) in a loop",
  help: HELP,
  run: lazyRun(() => import("./agent-implementation.ts")),
};
