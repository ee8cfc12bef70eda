/** `rlm run --memory`'s playbook: its flags, and the learner that reads and writes the playbook. */
import type { RLMOptions } from "../../engine/rlm.ts";
import type { RunLearner } from "../../engine/run-learner.ts";
import { UsageError } from "../../errors/usage-error.ts";
import { createPlaybook, DEFAULT_PLAYBOOK_BUDGET } from "../../learning/playbook.ts";
import type { Memory } from "../../memory/memory.ts";
import { asModelClient } from "../../models/model-client.ts";
import { settingsForModel } from "../../models/model-settings.ts";
import { nonNegativeInteger } from "../parse-options.ts";

/**
 * `--playbook-budget N` and `--no-playbook`, checked before the store opens: the playbook's token budget, or
 * undefined when it is off (no --memory, or --no-playbook).
 */
export function readPlaybookFlags(values: {
  memory?: string;
  "playbook-budget"?: string;
  "no-playbook"?: boolean;
}): number | undefined {
  const budget = values["playbook-budget"];
  if (values.memory === undefined) {
    if (budget !== undefined) throw new UsageError({ message: "--playbook-budget needs --memory [DB]." });
    if (values["no-playbook"]) throw new UsageError({ message: "--no-playbook needs --memory [DB]." });
    return undefined;
  }
  if (values["no-playbook"]) {
    if (budget !== undefined) {
      throw new UsageError({ message: "--playbook-budget and --no-playbook do not go together." });
    }
    return undefined;
  }
  return budget === undefined ? DEFAULT_PLAYBOOK_BUDGET : nonNegativeInteger("playbook-budget", budget);
}

/**
 * The playbook learner over the run's memory store and scope. The reflector is the sub-model (else the root
 * model), with the settings the run gives that model; in privacy mode there is no reflector (the trace would
 * leave the machine), so only the bullets the root cites are tagged.
 */
export function playbookLearnerFor(memory: Memory, budgetTokens: number, options: RLMOptions): RunLearner {
  const playbook = createPlaybook({ store: memory.store, budgetTokens, scope: memory.scope });
  if (options.privacy) return playbook.learner();
  const spec = options.subModel ?? options.model;
  const settings =
    options.subModel === undefined
      ? options.settings
      : settingsForModel(options.subModel, options.model, options.settings, options.subModelSettings);
  return playbook.learner({
    model: asModelClient(spec, {
      ...(settings ? { settings } : {}),
      ...(options.prices ? { prices: options.prices } : {}),
      ...(options.callTimeoutMs === undefined ? {} : { timeoutMs: options.callTimeoutMs }),
    }),
  });
}
