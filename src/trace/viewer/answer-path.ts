import type { CellNode, IterationNode, RunNode, SubcallNode, ToolNode, TraceNode } from "../run-tree.ts";
import { mayWriteAnswer, stepLabel } from "../step-label.ts";

/**
 * The answer path: the nodes that produced a run's final answer, as far as a trace can tell. The trace does not
 * record which variable fed which, so this is a heuristic, and it says so in the viewer:
 *
 * - the iteration that produced the answer: the last finished one whose code or reply calls FINAL/FINAL_VAR (an
 *   RLM run); else the last one whose reply holds the start of the answer (an agent's last step or synthesis, or
 *   the verification's revision that rewrote it, not the verification's JSON replies after it); else the last
 *   one that may have written it (a fallback answer);
 * - in it, the cells that call FINAL/FINAL_VAR, and every sub-call and tool call that succeeded during the
 *   iteration (with the cells that made them);
 * - earlier sub-calls and tool calls whose result appears word for word in the answer: an rlm_query's child
 *   answer, a tool's output (llm_query answers are not in the trace, so earlier llm_queries never qualify);
 * - through each rlm_query on the path, the same inside its child run;
 * - and every ancestor of those nodes.
 */
export function answerPath(roots: readonly RunNode[]): Set<number> {
  const path = new Set<number>();
  const mark = (node: TraceNode | undefined) => {
    for (let at = node; at !== undefined && !path.has(at.id); at = at.parent) path.add(at.id);
  };
  // Characters the word-for-word comparisons may scan in all: a huge answer against many calls is quadratic.
  const budget = { chars: MAX_COMPARED_CHARS };
  // Child runs wait in a list, not on the stack: a hostile trace nests thousands of them.
  const waiting: RunNode[] = [...roots].reverse();
  const visit = (run: RunNode) => {
    const answer = answerText(run);
    if (answer === undefined) return;
    mark(run);
    const iterations = run.children.filter(
      (child): child is IterationNode => child.kind === "iteration" && child.end !== undefined,
    );
    const answering =
      iterations.findLast(callsFinal) ??
      lastWriter(iterations, answer, budget) ??
      iterations.findLast((iteration) => mayWriteAnswer(stepLabel(iteration.end))) ??
      iterations.at(-1);
    if (answering) {
      mark(answering);
      for (const child of answering.children)
        if (child.kind === "cell" && FINAL_CALL.test(child.cell.code)) mark(child);
    }
    const flatAnswer = flatten(answer);
    for (const call of callsOf(run)) {
      // A call that failed gave nothing to the answer.
      if (call.end?.ok !== true) continue;
      const inAnswering = answering !== undefined && isUnder(call, answering);
      if (!inAnswering && !resultInAnswer(call, flatAnswer, budget)) continue;
      mark(call);
      const children = call.children.filter((child): child is RunNode => child.kind === "run");
      for (let index = children.length - 1; index >= 0; index--) waiting.push(children[index] as RunNode);
    }
  };
  for (let run = waiting.pop(); run !== undefined; run = waiting.pop()) visit(run);
  return path;
}

const FINAL_CALL = /\bFINAL(?:_VAR)?\s*\(/;

function callsFinal(iteration: IterationNode): boolean {
  const end = iteration.end;
  if (end === undefined) return false;
  return FINAL_CALL.test(end.reply) || end.cells.some((cell) => FINAL_CALL.test(cell.code));
}

/** The start of the answer looked for in replies: long enough to be telling, short enough to survive a reformat. */
const ANSWER_PREFIX_CHARS = 200;

/**
 * The last iteration whose reply holds the start of the answer (whitespace flattened), skipping the calls that only
 * reply about the answer (a verification's claims and check). Charged to the budget: many long replies are as costly
 * as a long answer.
 */
function lastWriter(
  iterations: readonly IterationNode[],
  answer: string,
  budget: { chars: number },
): IterationNode | undefined {
  // A slice is flattened, not the whole answer (bounded work); much whitespace leaves a shorter start, still its start.
  const prefix = flatten(answer.slice(0, 8 * ANSWER_PREFIX_CHARS)).slice(0, ANSWER_PREFIX_CHARS);
  if (prefix.length < MIN_RESULT_CHARS) return undefined;
  for (let index = iterations.length - 1; index >= 0; index--) {
    const iteration = iterations[index] as IterationNode;
    const reply = iteration.end?.reply ?? "";
    if (reply.length < prefix.length || !mayWriteAnswer(stepLabel(iteration.end))) continue;
    if (budget.chars < reply.length) return undefined;
    budget.chars -= reply.length;
    if (flatten(reply).includes(prefix)) return iteration;
  }
  return undefined;
}

function answerText(run: RunNode): string | undefined {
  const answer = run.end?.answer;
  if (answer === undefined || answer === null) return undefined;
  return typeof answer === "string" ? answer : JSON.stringify(answer);
}

/** Sub-calls and tool calls of a run (not of its child runs), in tree order. */
function callsOf(run: RunNode): Array<SubcallNode | ToolNode> {
  const found: Array<SubcallNode | ToolNode> = [];
  const stack: TraceNode[] = [...run.children].reverse();
  while (stack.length > 0) {
    const node = stack.pop() as TraceNode;
    if (node.kind === "run") continue;
    if (node.kind === "subcall" || node.kind === "tool") found.push(node);
    for (let index = node.children.length - 1; index >= 0; index--)
      stack.push(node.children[index] as TraceNode);
  }
  return found;
}

function isUnder(node: TraceNode, ancestor: IterationNode | CellNode): boolean {
  // Within the run only (the ancestor is in it): walking up to the root is quadratic in a deep tree.
  for (let at = node.parent; at !== undefined && at.kind !== "run"; at = at.parent)
    if (at === ancestor) return true;
  return false;
}

function flatten(text: string): string {
  return text.replace(/\s+/g, " ").trim();
}

/** Results shorter than this are too common to say they fed the answer ("ok", "1"). */
const MIN_RESULT_CHARS = 3;
/** Longer results are not compared (the answer would quote them whole only rarely; the work stays bounded). */
const MAX_RESULT_CHARS = 10_000;

/**
 * Characters of answers scanned for results in all, over the whole trace (the comparison is a heuristic; past this,
 * earlier calls are no longer compared and only the answering iteration's calls are on the path).
 */
const MAX_COMPARED_CHARS = 200_000_000;

function resultInAnswer(call: SubcallNode | ToolNode, answer: string, budget: { chars: number }): boolean {
  let result: string | undefined;
  if (call.kind === "tool") result = call.end?.ok ? call.end.output : undefined;
  else {
    const child = call.children.find((node): node is RunNode => node.kind === "run");
    result = child ? answerText(child) : undefined;
  }
  if (result === undefined) return false;
  if (result.length > 4 * MAX_RESULT_CHARS) return false;
  const flat = flatten(result);
  if (flat.length < MIN_RESULT_CHARS || flat.length > MAX_RESULT_CHARS || flat.length > answer.length)
    return false;
  if (budget.chars < answer.length) return false;
  budget.chars -= answer.length;
  return answer.includes(flat);
}
