/**
 * A ScriptedModel for the agent's tests, scripted per role: each call is told apart by its system prompt
 * (the planner, the executor of a step, the synthesis, the claim list, the check, the revision, else the plain
 * tool loop), and the test gives a reply function per role it expects.
 */
import { type ScriptedCall, ScriptedModel, type ScriptedReply } from "../src/test/scripted-model.ts";

export type AgentRole = "planner" | "synthesis" | "claims" | "check" | "revise" | "executor" | "loop";

/** Which of the agent's calls this is, from its system prompt. */
export function agentRole(call: ScriptedCall): AgentRole {
  if (call.system.includes("You plan the work")) return "planner";
  if (call.system.includes("You write the final answer")) return "synthesis";
  if (call.system.includes("You list the checkable claims")) return "claims";
  if (call.system.includes("You check claims against evidence")) return "check";
  if (call.system.includes("You revise an answer")) return "revise";
  if (call.system.includes("carrying out one step")) return "executor";
  return "loop";
}

/** A model that answers each call with its role's script; a call of a role without one fails the test. */
export function scriptedAgentModel(
  script: Partial<Record<AgentRole, (call: ScriptedCall) => ScriptedReply>>,
): ScriptedModel {
  return new ScriptedModel({
    replies: (call) => {
      const reply = script[agentRole(call)];
      if (reply === undefined) throw new Error(`no script for a ${agentRole(call)} call`);
      return reply(call);
    },
  });
}

/** The calls the model got in one role. */
export const callsOf = (model: ScriptedModel, role: AgentRole) =>
  model.calls.filter((call) => agentRole(call) === role);
