import type { IterationEndEvent } from "../engine/run-events.ts";

/**
 * What an agent's model call was for. An agent run (src/agent) records each model call as an iteration and, for
 * the calls of a plan or a verification, writes what the call was for as the iteration's one cell: the label as
 * its code, no output, 0 ms ("plan", "step 2 of 4: <goal>", "synthesis", "verification: check"...). That cell is
 * no code that ran, so `rlm trace show` and the trace viewer show it as the iteration's label instead of a cell.
 *
 * The label must read like one the agent writes: a converted official log also has cells without output or time,
 * and those are real code that must stay visible.
 */
const AGENT_LABEL =
  /^(?:plan|step \d+ of \d+: [^\n]+|revise plan after step \d+|synthesis(?: \(at a limit\))?|verification: (?:claims|check|revise))$/;
/** A planner call retried after an unusable reply: "plan (retry: <why>)". */
const RETRY = " (retry: ";

/** Longer cells are code, whatever they say (and the pattern test stays cheap on a hostile trace). */
const MAX_LABEL_CHARS = 2_000;

/** The label of an agent's iteration when its cells are only that label, else undefined (an RLM iteration). */
export function stepLabel(end: Pick<IterationEndEvent, "cells"> | undefined): string | undefined {
  const cells = end?.cells;
  if (cells === undefined || cells.length !== 1) return undefined;
  const cell = cells[0] as IterationEndEvent["cells"][number];
  if (cell.output !== "" || cell.error !== undefined || cell.durationMs !== 0) return undefined;
  if (typeof cell.code !== "string" || cell.code.length > MAX_LABEL_CHARS) return undefined;
  const retry = cell.code.endsWith(")") ? cell.code.indexOf(RETRY) : -1;
  return AGENT_LABEL.test(retry < 0 ? cell.code : cell.code.slice(0, retry)) ? cell.code : undefined;
}

/**
 * Whether the call behind a label can have written the run's answer: the claims and check calls of a verification
 * reply with JSON about the answer (which may quote it), so they never did.
 */
export function mayWriteAnswer(label: string | undefined): boolean {
  return label === undefined || !/^verification: (?:claims|check)\b/.test(label);
}
