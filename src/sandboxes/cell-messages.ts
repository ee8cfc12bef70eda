import type { CellError, CellLimit } from "../spec/sandbox.ts";

/** Whether the guest's variables survived what stopped it. */
function survivalNote(stateLost: boolean): string {
  return stateLost
    ? "The sandbox was restarted: every variable is gone except the inputs (such as context); recreate what you need."
    : "Variables from earlier cells are intact.";
}

/** What the model is told when a limit stops a cell: what happened and whether its variables survived. */
export function limitMessage(
  limit: CellLimit,
  detail: { seconds?: number; memoryMb?: number; stateLost: boolean },
) {
  const survival = survivalNote(detail.stateLost);
  switch (limit) {
    case "time":
      return {
        name: "TimeoutError",
        message: `The cell ran longer than its limit of ${detail.seconds} s and was stopped. ${survival}`,
      };
    case "memory":
      return {
        name: "MemoryLimitError",
        message: `The cell went over the sandbox memory limit of ${detail.memoryMb} MiB and was stopped. Work on smaller pieces. ${survival}`,
      };
    case "cancelled":
      return { name: "CancelledError", message: `The cell was cancelled. ${survival}` };
    case "stuck":
      return {
        name: "StuckError",
        message: `The cell was waiting for a promise that nothing can settle (no host call in flight), so it was abandoned. ${survival}`,
      };
  }
}

/** The 1-based line of a cell's own code in a guest stack trace, if any. */
export function lineFromStack(stack: string | undefined, filename: string): number | undefined {
  if (!stack) return undefined;
  const escaped = filename.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  const match = new RegExp(`${escaped}:(\\d+)`).exec(stack);
  return match?.[1] === undefined ? undefined : Number(match[1]);
}

/**
 * Why a cell was not run: the sandbox had to be restarted before it (`cause` says why, e.g. code an earlier
 * cell left running kept it busy past its CPU allowance).
 */
export function restartedBeforeCellMessage(cause: string): CellError {
  return {
    name: "SandboxRestarted",
    message: `The sandbox was stopped before this cell because ${cause}. This cell was not run: run it again. ${survivalNote(true)}`,
  };
}

/** The cause when work an earlier cell left behind kept the isolate busy after that cell ended. */
export const LEFTOVER_WORK =
  "code an earlier cell left behind (an async function it did not await, a FinalizationRegistry callback) kept it busy after that cell ended";

/** Appended to a cell's output when it ended with host calls still running: their answers never arrive. */
export function droppedCallsNote(count: number): string {
  const calls = count === 1 ? "1 host call" : `${count} host calls`;
  return `[${calls} this cell started without awaiting ${count === 1 ? "was" : "were"} still running when it ended; ${count === 1 ? "its answer is" : "their answers are"} dropped. Await host calls (await Promise.all(...)) to use their answers.]\n`;
}

/** Absolute paths (POSIX and Windows), file: URLs and Node's internal module names. */
const HOST_PATH =
  /(?:file:\/\/|node:internal\/)[^\s'"`()<>]*|(?<![\w:/.~-])\/(?:[\w.@+~-]+\/)+[\w.@+~-]*(?::\d+)*|\b[A-Za-z]:\\(?:[^\\\s'"`]+\\)+[^\\\s'"`]*/g;

/**
 * Host-made text (a host function's error, an isolated-vm error) with its file paths replaced: where the host's
 * files live is none of the guest's business, and the model reads what the guest sees. A URL keeps its path.
 */
export function scrubHostPaths(text: string): string {
  return text.replace(HOST_PATH, "<host path>");
}
