import type { CliIo } from "./cli-io.ts";

/** One `rlm` subcommand. */
export interface Command {
  name: string;
  /** One line for `rlm --help`. */
  summary: string;
  /** Full text for `rlm <name> --help` (printed by the dispatcher; commands do not handle --help). */
  help: string;
  /** Runs the command and resolves to its exit code. Throws RlmError for user errors. */
  run(args: string[], io: CliIo): Promise<number>;
}

/**
 * A command's `run` that loads its implementation module only when the command runs, so the CLI starts with just
 * the names and help of its commands.
 */
export function lazyRun(load: () => Promise<{ run: Command["run"] }>): Command["run"] {
  return async (args, io) => (await load()).run(args, io);
}
