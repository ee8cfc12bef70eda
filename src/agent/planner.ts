import { UsageError } from "../errors/usage-error.ts";
import type { AgentPlanReport, AgentPlanStep, AgentStatus } from "./agent-events.ts";
import {
  type AgentRunHost,
  errorLine,
  type HostCallRequest,
  oneLine,
  type RunStop,
} from "./agent-run-host.ts";
import {
  executorPrompt,
  executorRestate,
  plannerPrompt,
  plannerSystem,
  planRetryPrompt,
  revisionPrompt,
  SYNTHESIS_SYSTEM,
  synthesisPrompt,
} from "./plan-prompts.ts";
import { MAX_PLAN_STEPS, type ParsedPlan, parsePlan } from "./plan-schema.ts";

/** How the planner/executor works; every field has a default. */
export interface PlannerOptions {
  /** Steps one plan may hold (1 to 8, default 8). */
  maxPlanSteps?: number;
  /** Model steps the executor of one plan step may take (1 to 50, default 6); the run's step limit also holds. */
  maxStepsPerPlanStep?: number;
  /** Times the plan may be revised after a failed step (0 to 5, default 2). */
  maxRevisions?: number;
}

export interface ResolvedPlannerOptions {
  maxPlanSteps: number;
  maxStepsPerPlanStep: number;
  maxRevisions: number;
}

const BOUNDS: Record<keyof PlannerOptions, { min: number; max: number; fallback: number }> = {
  maxPlanSteps: { min: 1, max: MAX_PLAN_STEPS, fallback: MAX_PLAN_STEPS },
  maxStepsPerPlanStep: { min: 1, max: 50, fallback: 6 },
  maxRevisions: { min: 0, max: 5, fallback: 2 },
};

/** Checks the planner's options (`planner: true` takes the defaults); a UsageError names the field. */
export function validatePlannerOptions(given: PlannerOptions | true): ResolvedPlannerOptions {
  const options: PlannerOptions = given === true ? {} : given;
  if (typeof options !== "object" || options === null) {
    throw new UsageError({ message: "planner must be true or an object of planner options." });
  }
  const resolved = {} as ResolvedPlannerOptions;
  for (const [field, bound] of Object.entries(BOUNDS) as Array<
    [keyof PlannerOptions, (typeof BOUNDS)["maxPlanSteps"]]
  >) {
    const value = options[field];
    if (value === undefined) {
      resolved[field] = bound.fallback;
      continue;
    }
    if (typeof value !== "number" || !Number.isInteger(value) || value < bound.min || value > bound.max) {
      throw new UsageError({
        message: `planner.${field} must be a whole number from ${bound.min} to ${bound.max}, got ${String(value)}.`,
      });
    }
    resolved[field] = value;
  }
  return resolved;
}

/** How a planned run ended; `fallback` when the planner gave no usable plan (the caller runs the plain loop). */
export type PlannedOutcome =
  | {
      kind: "answered";
      answer: string | null;
      status: AgentStatus;
      stopReason?: string;
      plan: AgentPlanReport;
    }
  | { kind: "fallback"; plan: AgentPlanReport };

const PLAN_OUTPUT_TOKENS = 1_024;
const SYNTHESIS_OUTPUT_TOKENS = 4_096;
/** Characters of a step's result kept in the plan report (the trace has the executor's full replies). */
const MAX_RESULT_CHARS = 8_000;

/** A call that failed: the limit that explains it, else the failure. */
function failureOf(host: AgentRunHost, error: unknown): RunStop {
  return host.stopped() ?? { status: "failed", message: errorLine(error) };
}

/** The planner's call with one retry after a reply that is no usable plan: the plan, or why there is none. */
async function askForPlan(
  host: AgentRunHost,
  request: Omit<HostCallRequest, "maxOutputTokens">,
  maxSteps: number,
): Promise<ParsedPlan | { malformed: string }> {
  const names = host.tools.map((tool) => tool.name);
  const first = await host.call({ ...request, maxOutputTokens: PLAN_OUTPUT_TOKENS });
  const parsed = parsePlan(first.text, names, maxSteps);
  if (typeof parsed !== "string") return parsed;
  if (host.stepsLeft() <= 0 || host.stopped()) return { malformed: parsed };
  const second = await host.call({
    ...request,
    label: `${request.label} (retry: ${parsed})`,
    history: [
      ...(request.history ?? []),
      { role: "user", content: request.prompt },
      { role: "assistant", content: first.text.slice(0, 4_000) },
    ],
    prompt: planRetryPrompt(parsed),
    maxOutputTokens: PLAN_OUTPUT_TOKENS,
  });
  const again = parsePlan(second.text, names, maxSteps);
  return typeof again === "string" ? { malformed: `${parsed}; after the retry: ${again}` } : again;
}

function stepsOf(plan: ParsedPlan, offset: number): AgentPlanStep[] {
  return plan.steps.map((step, index) => ({
    id: String(offset + index + 1),
    goal: step.goal,
    ...(step.tool ? { tool: step.tool } : {}),
    status: "not-run" as const,
  }));
}

/**
 * The planner/executor: a planner call writes a short JSON plan (steps with the tool each needs), informed by the
 * blocks given (similar cases from the case bank, recalled memory); an executor runs each step as a bounded tool
 * loop with the task, the plan and the earlier results restated; after a failed step (tool errors only, or no
 * result) the planner may revise the rest of the plan; a final call synthesises the answer from the steps'
 * results. Every call is a step of the host's run, under its limits; at a limit the synthesis still answers from
 * what was found. A planner that gives no usable plan twice hands the run back (`fallback`).
 */
export async function runPlanned(
  host: AgentRunHost,
  options: ResolvedPlannerOptions,
  blocks: readonly string[],
): Promise<PlannedOutcome> {
  const report: AgentPlanReport = { steps: [], revisions: 0, notes: [] };
  let stop: RunStop | undefined = host.stopped();
  let completed = false;

  if (stop === undefined) {
    try {
      const plan = await askForPlan(
        host,
        {
          label: "plan",
          system: plannerSystem(options.maxPlanSteps),
          prompt: plannerPrompt({ task: host.task, tools: host.tools, blocks }),
        },
        options.maxPlanSteps,
      );
      if ("malformed" in plan) {
        if (host.stopped() === undefined && host.stepsLeft() > 0) {
          report.fallback = `the planner gave no usable plan (${plan.malformed}); the run went on as the plain tool loop`;
          host.warn(report.fallback);
          return { kind: "fallback", plan: report };
        }
        stop = host.stopped() ?? { status: "max_steps", message: "the step limit is reached" };
      } else {
        report.steps = stepsOf(plan, 0);
        report.notes.push(...plan.notes);
      }
    } catch (error) {
      stop = failureOf(host, error);
    }
  }

  for (let index = 0; stop === undefined && index < report.steps.length; index++) {
    stop = host.stopped();
    if (stop !== undefined) break;
    if (host.stepsLeft() <= 0) {
      stop = { status: "max_steps", message: "the step limit is reached before the plan was done" };
      break;
    }
    const step = report.steps[index] as AgentPlanStep;
    const outcome = await host.loop({
      label: `step ${index + 1} of ${report.steps.length}: ${oneLine(step.goal, 120)}`,
      restate: executorRestate({ task: host.task, steps: report.steps, current: index }),
      prompt: executorPrompt(step, index, report.steps.length),
      maxSteps: Math.min(options.maxStepsPerPlanStep, host.stepsLeft()),
    });
    if (outcome.error !== undefined) {
      stop = host.stopped() ?? { status: "failed", message: outcome.error };
      step.status = "failed";
      step.error = outcome.error;
      break;
    }
    const text = outcome.text.trim();
    const toolErrorsOnly = outcome.toolErrors.length > 0 && outcome.toolsOk === 0;
    if (text === "" || outcome.pendingTools || toolErrorsOnly) {
      step.status = "failed";
      step.error = toolErrorsOnly
        ? `every tool call failed: ${outcome.toolErrors.slice(-3).join(" | ")}`
        : outcome.pendingTools
          ? "the step ended with tool calls still going (its step cap or a limit) and no result"
          : "the step gave no result";
      if (text !== "") step.result = text.slice(0, MAX_RESULT_CHARS);
    } else {
      step.status = "done";
      step.result = text.slice(0, MAX_RESULT_CHARS);
    }
    stop = host.stopped();
    if (stop !== undefined) break;
    if (step.status === "failed" && report.revisions < options.maxRevisions && host.stepsLeft() > 0) {
      const room = Math.max(1, options.maxPlanSteps - (index + 1));
      try {
        const revised = await askForPlan(
          host,
          {
            label: `revise plan after step ${index + 1}`,
            system: plannerSystem(room),
            prompt: revisionPrompt({
              task: host.task,
              tools: host.tools,
              steps: report.steps,
              failed: step,
              maxSteps: room,
            }),
          },
          room,
        );
        report.revisions++;
        if ("malformed" in revised) {
          report.notes.push(
            `revision ${report.revisions} gave no usable plan (${revised.malformed}); the plan went on`,
          );
        } else {
          report.steps = [...report.steps.slice(0, index + 1), ...stepsOf(revised, index + 1)];
          report.notes.push(...revised.notes.map((note) => `revision ${report.revisions}: ${note}`));
        }
      } catch (error) {
        stop = failureOf(host, error);
      }
    }
  }
  if (stop === undefined && report.steps.length > 0) completed = true;

  const status: AgentStatus = completed ? "completed" : (stop?.status ?? "failed");
  const stopReason = completed ? undefined : stop?.message;
  if (
    status === "cancelled" ||
    (status === "failed" && report.steps.every((step) => step.status !== "done"))
  ) {
    return { kind: "answered", answer: null, status, ...(stopReason ? { stopReason } : {}), plan: report };
  }
  const answer = await synthesise(host, report, blocks, stopReason);
  if (answer.ok) {
    return {
      kind: "answered",
      answer: answer.text,
      status,
      ...(stopReason ? { stopReason } : {}),
      plan: report,
    };
  }
  if (completed) {
    // A refused or failed synthesis: at a limit, one more try as the last call on top of it.
    const late = host.stopped();
    if (late !== undefined && late.status !== "cancelled") {
      const retried = await synthesise(host, report, blocks, late.message);
      return {
        kind: "answered",
        answer: retried.ok ? retried.text : null,
        status: late.status,
        stopReason: late.message,
        plan: report,
      };
    }
    return { kind: "answered", answer: null, status: "failed", stopReason: answer.error, plan: report };
  }
  host.warn(`the synthesis at the limit failed: ${answer.error}`);
  return { kind: "answered", answer: null, status, ...(stopReason ? { stopReason } : {}), plan: report };
}

async function synthesise(
  host: AgentRunHost,
  report: AgentPlanReport,
  blocks: readonly string[],
  atLimit: string | undefined,
): Promise<{ ok: true; text: string } | { ok: false; error: string }> {
  try {
    const reply = await host.call({
      label: atLimit ? "synthesis (at a limit)" : "synthesis",
      system: SYNTHESIS_SYSTEM,
      prompt: synthesisPrompt({
        task: host.task,
        steps: report.steps,
        blocks,
        ...(atLimit ? { atLimit } : {}),
      }),
      maxOutputTokens: SYNTHESIS_OUTPUT_TOKENS,
      ...(atLimit ? { atLimit } : {}),
    });
    const text = reply.text.trim();
    return text === ""
      ? { ok: false, error: "the synthesis gave an empty answer" }
      : { ok: true, text: reply.text };
  } catch (error) {
    return { ok: false, error: errorLine(error) };
  }
}
