import { z } from "zod";
import { jsonObjectOf } from "../shared/json-reply.ts";

/** Steps a plan may hold; a longer one is cut (the planner is told the cap). */
export const MAX_PLAN_STEPS = 8;
const MAX_GOAL_CHARS = 500;

/** One step as the planner writes it. */
export interface PlannedStep {
  id: string;
  goal: string;
  tool?: string;
}

const stepSchema = z.object({
  id: z.union([z.string().max(40), z.number().int()]).optional(),
  goal: z.string().trim().min(1),
  tool: z.string().max(200).nullish(),
});

const planSchema = z.object({ steps: z.array(z.unknown()).min(1).max(200) });

export interface ParsedPlan {
  steps: PlannedStep[];
  /** What was repaired: unknown tools dropped, long goals and plans cut, malformed steps left out. */
  notes: string[];
}

/** A tool name as the planner may spell it (case, dashes, a `functions.` prefix), matched to the agent's own. */
function repairToolName(given: string, known: readonly string[]): string | undefined {
  if (known.includes(given)) return given;
  const normal = (name: string) =>
    name
      .trim()
      .toLowerCase()
      .replace(/^functions\./, "")
      .replace(/[\s-]+/g, "_");
  const wanted = normal(given);
  return known.find((name) => normal(name) === wanted);
}

/**
 * The plan in a planner's reply: a JSON object `{steps: [{id, goal, tool?}]}` (fences and prose around it do not
 * matter). Steps past `maxSteps` are cut, a tool the agent does not have is dropped from its step (the executor
 * has every tool anyway), a step without a goal is left out; each repair is a note. A reply with no usable step
 * is a string saying why, for the one retry.
 */
export function parsePlan(
  reply: string,
  toolNames: readonly string[],
  maxSteps = MAX_PLAN_STEPS,
): ParsedPlan | string {
  const json = jsonObjectOf(reply);
  if (typeof json === "string") return json;
  const plan = planSchema.safeParse(json.value);
  if (!plan.success) return 'the JSON has no "steps" list of 1 or more steps';
  const notes: string[] = [];
  const steps: PlannedStep[] = [];
  let malformed = 0;
  for (const raw of plan.data.steps) {
    const step = stepSchema.safeParse(raw);
    if (!step.success) {
      malformed++;
      continue;
    }
    if (steps.length === maxSteps) {
      notes.push(`the plan had more than ${maxSteps} steps; the rest were cut`);
      break;
    }
    const goal = step.data.goal.replace(/\s+/g, " ");
    if (goal.length > MAX_GOAL_CHARS) notes.push(`step ${steps.length + 1}'s goal was cut`);
    const planned: PlannedStep = {
      id: String(steps.length + 1),
      goal: goal.slice(0, MAX_GOAL_CHARS),
    };
    const given = step.data.tool?.trim();
    if (given) {
      const tool = repairToolName(given, toolNames);
      if (tool === undefined)
        notes.push(`step ${planned.id} named an unknown tool "${given.slice(0, 60)}"; dropped`);
      else planned.tool = tool;
    }
    steps.push(planned);
  }
  if (malformed > 0)
    notes.push(`${malformed} step${malformed === 1 ? "" : "s"} without a goal were left out`);
  if (steps.length === 0) return "no step has a goal";
  return { steps, notes };
}

/** A plan as one line per step, for prompts and the trace. */
export function renderPlan(steps: ReadonlyArray<PlannedStep & { status?: string }>): string {
  return steps
    .map(
      (step, index) =>
        `${index + 1}. ${step.goal}${step.tool ? ` [tool: ${step.tool}]` : ""}${step.status && step.status !== "not-run" ? ` (${step.status})` : ""}`,
    )
    .join("\n");
}
