import { z } from "zod";
import type { Sandbox, SandboxLimits, SandboxSession } from "../spec/sandbox.ts";
import type { RunScopedTool } from "./agent-events.ts";

export interface RunCodeToolOptions {
  /** Where the code runs (default: the isolated-vm sandbox, JavaScript; resolveSandbox("python") for Python). */
  sandbox?: Sandbox;
  limits?: SandboxLimits;
}

/**
 * `run_code`: the sandbox REPL, persistent across the agent's steps (variables stay until the run ends). Errors of
 * the code are results the model reads.
 */
export function createRunCodeTool(options: RunCodeToolOptions = {}): RunScopedTool {
  let sandbox = options.sandbox;
  let session: Promise<SandboxSession> | undefined;
  const language = sandbox?.language ?? "javascript";
  const name = language === "python" ? "Python" : "JavaScript";
  return {
    description: `Runs ${name} code in a sandboxed REPL (no network, no files) and returns what it prints and the value of its last expression. Variables persist across calls of this run.`,
    inputSchema: z.object({ code: z.string().min(1).describe(`${name} code to run`) }),
    async execute(input: { code: string }, { signal }) {
      if (sandbox === undefined) {
        const { resolveSandbox } = await import("../sandboxes/resolve-sandbox.ts");
        sandbox = resolveSandbox("isolated-vm", options.limits ? { limits: options.limits } : {});
      }
      const opened = sandbox;
      session ??= opened.create(options.limits ? { limits: options.limits } : {});
      const cell = await (await session).execute(input.code, { signal });
      const parts = [cell.output === "" ? "(no output)" : cell.output.replace(/\n$/, "")];
      if (cell.error)
        parts.push(
          `${cell.error.name}: ${cell.error.message}${cell.error.line ? ` (line ${cell.error.line})` : ""}`,
        );
      if (cell.stateLost) parts.push("(the REPL restarted after a limit: earlier variables are lost)");
      if (cell.error) throw new Error(parts.join("\n"));
      return parts.join("\n");
    },
    async closeRun() {
      const open = session;
      session = undefined;
      if (open) (await open.catch(() => undefined))?.dispose();
    },
  };
}
