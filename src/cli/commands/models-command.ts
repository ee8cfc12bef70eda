import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm models [--json] [--base-url URL]

Lists the model providers, whether each is configured, which local servers answer,
and the model rlm uses when --model is not given.

Options:
  --base-url URL   an OpenAI-compatible server to check (else OPENAI_COMPATIBLE_BASE_URL)
  --json           print one JSON document on stdout
  -h, --help       show this help`;

/**
 * `rlm models`: its name and help load with the CLI; the implementation and its dependencies (the AI SDK, the
 * sandboxes, ...) only when the command runs, so `rlm --help` and other commands start fast.
 */
export const modelsCommand: Command = {
  name: "models",
  summary: "list configured model providers and reachable local servers",
  help: HELP,
  run: lazyRun(() => import("./models-implementation.ts")),
};
