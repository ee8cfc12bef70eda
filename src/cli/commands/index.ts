import type { Command } from "../command.ts";
import { agentCommand } from "./agent-command.ts";
import { benchCommand } from "./bench-command.ts";
import { casesCommand } from "./cases-command.ts";
import { chatCommand } from "./chat-command.ts";
import { feedbackCommand } from "./feedback-command.ts";
import { keysCommand } from "./keys-command.ts";
import { mcpCommand } from "./mcp-command.ts";
import { memoryCommand } from "./memory-command.ts";
import { modelsCommand } from "./models-command.ts";
import { playbookCommand } from "./playbook-command.ts";
import { runCommand } from "./run-command.ts";
import { serveCommand } from "./serve-command.ts";
import { traceCommand } from "./trace-command.ts";
import { workerCommand } from "./worker-command.ts";

/** Every `rlm` subcommand, in the order `rlm --help` lists them. */
export const COMMANDS: readonly Command[] = [
  runCommand,
  agentCommand,
  chatCommand,
  mcpCommand,
  serveCommand,
  workerCommand,
  keysCommand,
  benchCommand,
  memoryCommand,
  feedbackCommand,
  casesCommand,
  playbookCommand,
  modelsCommand,
  traceCommand,
];
