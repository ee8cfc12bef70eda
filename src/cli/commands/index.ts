import type { Command } from "../command.ts";
import { benchCommand } from "./bench-command.ts";
import { memoryCommand } from "./memory-command.ts";
import { modelsCommand } from "./models-command.ts";
import { runCommand } from "./run-command.ts";
import { traceCommand } from "./trace-command.ts";

/** Every `rlm` subcommand, in the order `rlm --help` lists them. */
export const COMMANDS: readonly Command[] = [
  runCommand,
  benchCommand,
  memoryCommand,
  modelsCommand,
  traceCommand,
];
