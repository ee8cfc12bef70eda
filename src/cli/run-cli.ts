import { RlmError } from "../errors/rlm-error.ts";
import { UsageError } from "../errors/usage-error.ts";
import { collectSecrets, redactSecrets } from "../models/redact-secrets.ts";
import { VERSION } from "../version.ts";
import { type CliIo, writeLine } from "./cli-io.ts";
import { COMMANDS } from "./commands/index.ts";
import { EXIT } from "./exit-codes.ts";

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length)) + 2;
  return [
    "rlm: let any language model work on inputs far larger than its context window.",
    "",
    "Usage: rlm <command> [options]",
    "",
    "Commands:",
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}${command.summary}`),
    "",
    "Options:",
    "  -h, --help      show help (also `rlm <command> --help`)",
    "  -V, --version   print the version",
    "  --debug         print stack traces of errors",
    "",
    "Models are named provider:model-id: openai:gpt-5-mini, anthropic:claude-sonnet-4-5,",
    "google:gemini-2.5-flash, ollama:qwen3:8b, openai-compatible:<id> (with --base-url), llamacpp:<file.gguf>.",
    "Exit codes: 0 success, 1 run failed, 2 usage or input error.",
  ].join("\n");
}

/** Prints an error: one clean line for expected errors, the stack only with --debug. */
function reportError(error: unknown, io: CliIo, debug: boolean): number {
  const secrets = collectSecrets(io.env);
  const expected = RlmError.isInstance(error);
  const message = error instanceof Error ? error.message : String(error);
  writeLine(io.stderr, redactSecrets(`rlm: error: ${message}`, secrets));
  if (debug && error instanceof Error && error.stack)
    writeLine(io.stderr, redactSecrets(error.stack, secrets));
  else if (!expected)
    writeLine(io.stderr, "(an unexpected error: run again with --debug for the stack trace)");
  return expected && error.isUserError ? EXIT.usage : EXIT.failed;
}

/** Runs `rlm` with the given arguments (without `node` and the script) and resolves to the exit code. */
export async function runCli(argv: string[], io: CliIo): Promise<number> {
  const debug = argv.includes("--debug");
  try {
    const [first, ...rest] = argv;
    if (first === "--version" || first === "-V") {
      writeLine(io.stdout, VERSION);
      return EXIT.ok;
    }
    if (first === "--help" || first === "-h" || first === "help") {
      const topic = COMMANDS.find((command) => command.name === rest[0]);
      writeLine(io.stdout, topic?.help ?? mainHelp());
      return EXIT.ok;
    }
    if (first === undefined || first === "--debug") {
      writeLine(io.stderr, mainHelp());
      return EXIT.usage;
    }
    const command = COMMANDS.find((candidate) => candidate.name === first);
    if (command === undefined) {
      throw new UsageError({
        message: `Unknown command "${first}". Commands: ${COMMANDS.map((known) => known.name).join(", ")}. Run \`rlm --help\`.`,
      });
    }
    if (rest.includes("--help") || rest.includes("-h")) {
      writeLine(io.stdout, command.help);
      return EXIT.ok;
    }
    return await command.run(rest, io);
  } catch (error) {
    return reportError(error, io, debug);
  }
}
