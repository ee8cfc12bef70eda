import { constants } from "node:fs";
import { open, readlink, realpath, stat } from "node:fs/promises";
import { relative, resolve, sep } from "node:path";
import { z } from "zod";
import { createRLM, type RLMOptions } from "../engine/rlm.ts";
import type { Tool } from "../spec/tool.ts";
import type { AgentToolFactory } from "./agent-events.ts";

export interface RlmQueryToolOptions {
  /** The RLM's options (its model at least); its limits are cut to what the agent's run has left. */
  rlm: RLMOptions;
  /** The folder whose files `path` may name (default: the current directory). */
  root?: string;
}

/**
 * `rlm_query`: hands an input too large for the prompt (text, a file under `root`, or the full output of an earlier
 * tool call) to an RLM run and returns its answer. The run spends from the agent's budget.
 */
export function createRlmQueryTool(options: RlmQueryToolOptions): AgentToolFactory {
  const root = resolve(options.root ?? process.cwd());
  return (scope): Tool => ({
    description:
      "Answers a question about an input too large to read here with a Recursive Language Model (it reads the input with code and sub-models). Give exactly one input: text, path (one file under the working directory) or toolOutput (the call id of an earlier tool call whose output was cut).",
    inputSchema: z.object({
      query: z.string().min(1),
      text: z.string().optional(),
      path: z.string().optional(),
      toolOutput: z.string().optional(),
    }),
    async execute(input: { query: string; text?: string; path?: string; toolOutput?: string }, { signal }) {
      const run = scope();
      const given = [input.text, input.path, input.toolOutput].filter((value) => value !== undefined);
      if (given.length !== 1) throw new Error("give exactly one of text, path or toolOutput");
      let context: string;
      if (input.text !== undefined) context = input.text;
      else if (input.toolOutput !== undefined) {
        const output = run.output(input.toolOutput);
        if (output === undefined)
          throw new Error(`no tool output with the call id ${input.toolOutput} in this run`);
        context = output;
      } else {
        context = await readAgentFile(root, input.path as string, signal);
      }
      const { budget } = run;
      const left = {
        ...(budget.limits.maxTokens === undefined
          ? {}
          : {
              maxTokens: Math.max(
                1,
                budget.limits.maxTokens - budget.total.inputTokens - budget.total.outputTokens,
              ),
            }),
        ...(budget.limits.maxCostUsd === undefined
          ? {}
          : { maxCostUsd: Math.max(1e-9, budget.limits.maxCostUsd - (budget.total.costUsd ?? 0)) }),
      };
      const rlm = createRLM({ ...options.rlm, limits: { ...options.rlm.limits, ...left } });
      const result = await rlm.run({
        context,
        query: input.query,
        signal: AbortSignal.any([signal, run.signal]),
      });
      for (const [model, totals] of Object.entries(result.usage.byModel)) {
        run.record(model, {
          inputTokens: totals.inputTokens,
          outputTokens: totals.outputTokens,
          cachedInputTokens: totals.cachedInputTokens,
          costUsd: totals.unpricedCalls > 0 ? null : totals.costUsd,
        });
      }
      if (result.status !== "completed") {
        throw new Error(`the RLM run ended ${result.status}${result.error ? `: ${result.error}` : ""}`);
      }
      return { answer: result.answer, runId: result.runId, iterations: result.iterations };
    },
  });
}

/** The largest file `rlm_query` reads for the agent (the RLM handles large inputs, the host's memory does not). */
export const MAX_AGENT_FILE_BYTES = 64 * 1024 * 1024;

export interface ReadAgentFileOptions {
  signal?: AbortSignal;
  /** Bytes read at most (default and ceiling MAX_AGENT_FILE_BYTES): a file that holds more is refused. */
  maxBytes?: number;
}

const isInside = (path: string, base: string) => path === base || path.startsWith(base + sep);
const hasHiddenPart = (relativePath: string) => relativePath.split(sep).some((part) => part.startsWith("."));

/**
 * One regular file under `root`, named by the model, read as text: the path and its real path (symlinks
 * resolved) must stay under the real root, no part of either may start with a dot (`.env`, `.ssh`; a link
 * `notes.txt -> .env` is refused too), glob characters are refused (the path is never expanded), and the file is
 * at most MAX_AGENT_FILE_BYTES. The model's code may follow instructions hidden in data, so this is the whole of
 * what it can read from the disk.
 *
 * The file system may be hostile too: the file is opened without blocking (a FIFO or a device would hang the
 * open or never end) and without following a last link, checked to be a regular file through its descriptor,
 * checked again to be the file under the root after the open (a folder swapped for a link between the check and
 * the open), and read only up to its limit even if it grows meanwhile.
 */
export async function readAgentFile(
  root: string,
  given: string,
  options: AbortSignal | ReadAgentFileOptions = {},
): Promise<string> {
  if (/[*?[\]{}]/.test(given))
    throw new Error("path must name one file, without glob characters (* ? [ ] { })");
  return readFileUnderRoot(root, given, options instanceof AbortSignal ? { signal: options } : options);
}

/**
 * readAgentFile without its refusal of glob characters, for paths a walk found (a file may be named `notes[1].txt`):
 * the same checks of the path, its real path and the opened file.
 */
export async function readFileUnderRoot(
  root: string,
  given: string,
  options: ReadAgentFileOptions = {},
): Promise<string> {
  const { signal, maxBytes: asked } = options;
  const maxBytes = Math.max(0, Math.min(asked ?? MAX_AGENT_FILE_BYTES, MAX_AGENT_FILE_BYTES));
  const realRoot = await realpath(root);
  const path = resolve(root, given);
  if (!isInside(path, resolve(root))) throw new Error("path must be inside the working directory");
  if (hasHiddenPart(relative(resolve(root), path))) {
    throw new Error("path must not name a hidden file or folder (a part starting with a dot)");
  }
  const real = await realpath(path).catch(() => {
    throw new Error(`no file at ${given}`);
  });
  checkRealPath(real, realRoot);
  const file = await open(real, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW).catch(
    (error: NodeJS.ErrnoException) => {
      throw new Error(
        error.code === "ELOOP"
          ? "path must not be swapped for a link while it is read"
          : `cannot open ${given} (${error.code ?? error.message})`,
      );
    },
  );
  try {
    const stat = await file.stat();
    if (!stat.isFile()) throw new Error(`${given} is not a regular file (give one file)`);
    await checkOpened(file.fd, stat, path, realRoot);
    if (stat.size > maxBytes) throw new Error(tooLarge(given, stat.size, maxBytes));
    signal?.throwIfAborted();
    // Read up to one byte past the limit: a file that grew since its size was read is refused, not read whole.
    let buffer = Buffer.allocUnsafe(Math.min(stat.size, maxBytes) + 1);
    let length = 0;
    for (;;) {
      signal?.throwIfAborted();
      if (length === buffer.length) {
        if (length > maxBytes) throw new Error(tooLarge(given, length, maxBytes));
        const bigger = Buffer.allocUnsafe(Math.min(buffer.length * 2, maxBytes + 1));
        buffer.copy(bigger, 0, 0, length);
        buffer = bigger;
      }
      const { bytesRead } = await file.read(buffer, length, buffer.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    const bytes = buffer.subarray(0, length);
    if (bytes.includes(0)) throw new Error(`${given} is a binary file`);
    return bytes.toString("utf8");
  } finally {
    await file.close();
  }
}

function tooLarge(given: string, size: number, maxBytes: number): string {
  return `${given} is ${size} bytes or more; files of at most ${maxBytes} bytes are read`;
}

/** A real path must be under the real root and have no hidden part there (a link to `.env` is a hidden file). */
function checkRealPath(real: string, realRoot: string): void {
  if (!isInside(real, realRoot))
    throw new Error("path must be inside the working directory (a link leads outside)");
  if (hasHiddenPart(relative(realRoot, real)))
    throw new Error("path must not lead to a hidden file or folder (a link to a part starting with a dot)");
}

/**
 * The file opened is the one checked: on Linux, the descriptor's own path (/proc/self/fd) is checked; elsewhere
 * the path is resolved again and must still be under the root and name the same file (device and inode).
 */
async function checkOpened(
  fd: number,
  opened: { dev: number; ino: number },
  path: string,
  realRoot: string,
): Promise<void> {
  const byDescriptor = await readlink(`/proc/self/fd/${fd}`).catch(() => undefined);
  if (byDescriptor?.startsWith(sep)) {
    checkRealPath(byDescriptor.replace(/ \(deleted\)$/, ""), realRoot);
    return;
  }
  const again = await realpath(path).catch(() => undefined);
  if (again === undefined) throw new Error("path must not change while it is read");
  checkRealPath(again, realRoot);
  const now = await stat(again);
  if (now.dev !== opened.dev || now.ino !== opened.ino)
    throw new Error("path must not change while it is read");
}
