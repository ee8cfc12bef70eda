import type { CellLimit } from "../spec/sandbox.ts";

/** What the model is told when a limit stops a cell: what happened and whether its variables survived. */
export function limitMessage(
  limit: CellLimit,
  detail: { seconds?: number; memoryMb?: number; stateLost: boolean },
) {
  const survival = detail.stateLost
    ? "The sandbox was restarted: every variable is gone except the inputs (such as context); recreate what you need."
    : "Variables from earlier cells are intact.";
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
