import type { RunEvent } from "../engine/run-events.ts";
import type { AgentPlanReport } from "./agent-events.ts";
import { renderPlan } from "./plan-schema.ts";

/**
 * The events a learner hears: the agent's tool calls as the cells of their step, so a case keeps what the run did
 * (case-summary.ts reads cells), with the plan as the last cell (a case keeps its last cells first); the cells
 * that only label a step are left out.
 */
export function eventsForLearner(
  events: readonly RunEvent[],
  labels: WeakSet<object>,
  plan: AgentPlanReport | undefined,
): RunEvent[] {
  const pending: Array<{ code: string; output: string; error?: string; durationMs: number }> = [];
  const args = new Map<string, string>();
  const out: RunEvent[] = [];
  for (const event of events) {
    if (event.type === "tool-start") args.set(event.callId, event.args);
    if (event.type === "tool-end") {
      pending.push({
        code: `${event.tool}(${args.get(event.callId) ?? ""})`,
        output: (event.output ?? "").slice(0, 2_000),
        ...(event.error ? { error: event.error } : {}),
        durationMs: event.latencyMs,
      });
    }
    if (event.type === "iteration-end") {
      const cells = event.cells.filter((cell) => !labels.has(cell));
      out.push({ ...event, cells: [...cells, ...pending.splice(0)] });
    } else out.push(event);
  }
  const lastIndex = out.findLastIndex((event) => event.type === "iteration-end");
  const last = out[lastIndex];
  if (plan !== undefined && plan.steps.length > 0 && last?.type === "iteration-end") {
    const code = `plan: ${renderPlan(plan.steps).split("\n").join("; ")}`;
    out[lastIndex] = { ...last, cells: [...last.cells, { code, output: "", durationMs: 0 }] };
  }
  return out;
}
