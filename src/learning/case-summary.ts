import type { RunEvent } from "../engine/run-events.ts";

/** What a case keeps of how its run went: the key code and the counts, small enough for a prompt. */
export interface CaseSummary {
  /** One paragraph: the counts, then the code of the root's cells that ran without an error (cut). */
  text: string;
  iterations: number;
  /** Sub-calls of the whole run tree, by kind. */
  subcalls: { llm_query: number; rlm_query: number };
  /** Root cells that raised an error. */
  failedCells: number;
}

/** Characters kept of one cell's code, and of all the code of a case. */
const MAX_CELL_CHARS = 600;
const MAX_CODE_CHARS = 1500;

/**
 * The root run's cells that ran without an error, latest last, cut to fit: the code that did the work. Cells that
 * raised are counted, not kept (they show what did not work, which the outcome already says).
 */
export function summarizeRun(events: readonly RunEvent[], iterations: number, runId?: string): CaseSummary {
  const subcalls = { llm_query: 0, rlm_query: 0 };
  const code: string[] = [];
  let failedCells = 0;
  for (const event of events) {
    if (event.type === "subcall-end") subcalls[event.kind]++;
    else if (event.type === "iteration-end" && event.depth === 0 && (!runId || event.runId === runId)) {
      for (const cell of event.cells) {
        if (cell.error !== undefined) failedCells++;
        else if (cell.code.trim() !== "") code.push(cut(cell.code.trim(), MAX_CELL_CHARS));
      }
    }
  }
  // The last cells matter most (they produced the answer): keep from the end while there is room.
  const kept: string[] = [];
  let room = MAX_CODE_CHARS;
  for (const cell of code.toReversed()) {
    if (cell.length > room) break;
    kept.unshift(cell);
    room -= cell.length;
  }
  const counts = [
    `${iterations} iteration${iterations === 1 ? "" : "s"}`,
    `${subcalls.llm_query} llm_query`,
    `${subcalls.rlm_query} rlm_query`,
    ...(failedCells > 0 ? [`${failedCells} cell${failedCells === 1 ? "" : "s"} raised`] : []),
  ].join(", ");
  const omitted = code.length - kept.length;
  const text = [
    counts,
    ...(omitted > 0 ? [`(${omitted} earlier cell${omitted === 1 ? "" : "s"} left out)`] : []),
    ...kept.map((cell) => `code: ${cell}`),
  ].join("\n");
  return { text, iterations, subcalls, failedCells };
}

export function cut(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 3)}...` : text;
}
