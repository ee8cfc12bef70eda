import { bindContext } from "../context/context-bindings.ts";
import type { ContextInput } from "../context/context-input.ts";
import type { FileText } from "../context/file-text.ts";
import { answerText } from "../engine/answer-text.ts";
import { findProseFinal } from "../engine/parse-reply.ts";
import type { HostFunction, Sandbox } from "../spec/sandbox.ts";
import { type OfficialIteration, type OfficialRecord, officialFinalAnswer } from "./official-trace.ts";

export interface ReplayedBlock {
  iteration: number;
  block: number;
  code: string;
  /** What the log says the block printed (stdout, then stderr). */
  logged: string;
  /** What our REPL printed. */
  actual: string;
  same: boolean;
  /** Sub-calls the code made beyond those logged (answered with a marker). */
  unloggedSubcalls: number;
  /** Logged sub-call answers the code did not ask for. */
  unusedSubcalls: number;
}

export interface ReplayReport {
  blocks: ReplayedBlock[];
  identical: number;
  differing: number;
  /** The logged final answer against ours (the last FINAL of the replay), when the log has one. */
  finalAnswer?: { logged: string; ours: string | null; same: boolean };
}

/**
 * Python run before the replay so our REPL behaves as the official one did when the log was written: a bare last
 * expression is not echoed, and SHOW_VARS() returns its text (listing context, not answer) instead of printing.
 */
const OFFICIAL_REPL_SETUP = `import __main__ as _rlm_main
_rlm_main._echo_last = False
def SHOW_VARS():
    entries = [entry for entry in _rlm_main._describe() if entry["name"] != "answer"]
    if "context" in globals() and not any(entry["name"] == "context" for entry in entries):
        entries.insert(0, {"name": "context", "type": type(globals()["context"]).__name__})
    return "Available variables: " + ", ".join(entry["name"] + " (" + entry["type"] + ")" for entry in entries)
_rlm_main._scaffold["SHOW_VARS"] = SHOW_VARS`;

/** Trailing spaces and blank trailing lines do not count as differences. */
function normalize(text: string): string {
  return text
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n")
    .trim();
}

/** The exception name on the last line of a Python traceback ("NameError: ..." -> "NameError"). */
function exceptionName(stderr: string): string | undefined {
  const last = stderr.trim().split("\n").at(-1) ?? "";
  return /^([\w.]+(?:Error|Exception|Interrupt|Exit))\b/.exec(last)?.[1]?.split(".").at(-1);
}

/**
 * Re-executes a logged run's code blocks in our sandbox, answering its sub-calls with the logged answers in order,
 * and compares each block's output with the log: a compatibility check on real trajectories.
 */
export async function replayOfficialLog(
  records: OfficialRecord[],
  options: { context: ContextInput | FileText; sandbox: Sandbox },
): Promise<ReplayReport> {
  let answers: string[] = [];
  let unlogged = 0;
  const next = () => {
    const answer = answers.shift();
    if (answer === undefined) {
      unlogged++;
      return "[replay: no logged answer for this sub-call]";
    }
    return answer;
  };
  const replayed: Record<string, HostFunction> = {
    llm_query: () => next(),
    rlm_query: () => next(),
    llm_query_batched: (prompts) => (Array.isArray(prompts) ? prompts.map(() => next()) : []),
    rlm_query_batched: (prompts) => (Array.isArray(prompts) ? prompts.map(() => next()) : []),
  };
  const bindings = bindContext(options.context, options.sandbox.language);
  const session = await options.sandbox
    .create({
      globals: bindings.globals,
      hostFunctions: { ...bindings.hostFunctions, ...replayed },
      setupCode: [
        ...bindings.setupCode,
        ...(options.sandbox.language === "python" ? [OFFICIAL_REPL_SETUP] : []),
      ],
    })
    .catch((error: unknown) => {
      bindings.dispose();
      throw error;
    });
  const blocks: ReplayedBlock[] = [];
  let ours: string | null = null;
  try {
    const iterations = records.filter((record): record is OfficialIteration => record.type === "iteration");
    for (const [index, record] of iterations.entries()) {
      let finalInCode = false;
      for (const [blockIndex, block] of (record.code_blocks ?? []).entries()) {
        answers = (block.result?.rlm_calls ?? []).map((call) => call.response ?? "");
        unlogged = 0;
        const cell = await session.execute(block.code);
        if (cell.final !== undefined) {
          finalInCode = true;
          ours = answerText(cell.final.value);
        }
        const stdout = block.result?.stdout ?? "";
        const stderr = block.result?.stderr ?? "";
        const expectedError = exceptionName(stderr);
        const actualOutput = cell.error
          ? (cell.output.split("\nTraceback (most recent call last):")[0] ?? "")
          : cell.output;
        const same =
          normalize(actualOutput) === normalize(stdout) &&
          (expectedError === undefined ? cell.error === undefined : cell.error?.name === expectedError);
        blocks.push({
          iteration: record.iteration ?? index + 1,
          block: blockIndex + 1,
          code: block.code,
          logged: `${stdout}${stderr}`,
          actual: cell.error ? `${actualOutput}${cell.error.name}: ${cell.error.message}` : cell.output,
          same,
          unloggedSubcalls: unlogged,
          unusedSubcalls: answers.length,
        });
      }
      // A FINAL(...) or FINAL_VAR(...) written in the reply's prose, as the official loop reads it.
      const prose = finalInCode ? undefined : findProseFinal(record.response ?? "");
      if (prose?.kind === "value") ours = prose.text;
      else if (prose?.kind === "variable") {
        const variable = await session.getVariable(prose.name).catch(() => undefined);
        if (variable !== undefined) ours = answerText(variable.value);
      }
    }
  } finally {
    session.dispose();
    bindings.dispose();
  }
  const identical = blocks.filter((block) => block.same).length;
  const logged = records
    .filter((record): record is OfficialIteration => record.type === "iteration")
    .map((record) => officialFinalAnswer(record.final_answer))
    .filter((answer): answer is string => answer !== null)
    .at(-1);
  return {
    blocks,
    identical,
    differing: blocks.length - identical,
    ...(logged === undefined
      ? {}
      : { finalAnswer: { logged, ours, same: ours !== null && normalize(ours) === normalize(logged) } }),
  };
}

/** A short, readable report: totals, then each differing block with the first differing line. */
export function formatReplayReport(report: ReplayReport): string {
  const lines = [
    `${report.blocks.length} code blocks replayed: ${report.identical} identical, ${report.differing} differ.`,
  ];
  if (report.finalAnswer !== undefined) {
    lines.push(
      report.finalAnswer.same
        ? "The final answer is the same as logged."
        : `The final answer differs: logged ${JSON.stringify(report.finalAnswer.logged)}, ours ${JSON.stringify(report.finalAnswer.ours)}.`,
    );
  }
  for (const block of report.blocks.filter((item) => !item.same)) {
    const logged = normalize(block.logged).split("\n");
    const actual = normalize(block.actual).split("\n");
    let at = 0;
    while (at < Math.max(logged.length, actual.length) && logged[at] === actual[at]) at++;
    lines.push(
      "",
      `iteration ${block.iteration}, block ${block.block}: output differs at line ${at + 1}`,
      `  logged: ${JSON.stringify(logged[at] ?? "(nothing)")}`,
      `  ours:   ${JSON.stringify(actual[at] ?? "(nothing)")}`,
      ...(block.unloggedSubcalls > 0
        ? [`  the code made ${block.unloggedSubcalls} sub-calls more than the log holds`]
        : []),
      ...(block.unusedSubcalls > 0
        ? [`  ${block.unusedSubcalls} logged sub-call answers were not asked for`]
        : []),
    );
  }
  return lines.join("\n");
}
