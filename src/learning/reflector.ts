import type { FinishedRun, RunLearner } from "../engine/run-learner.ts";
import { type MemoryModel, memoryModelClient } from "../memory/memory-model.ts";
import type { Playbook, ProposedOperation } from "./playbook.ts";
import { byRank, type PlaybookTag } from "./playbook-operations.ts";
import { parseReflection, REFLECTOR_SYSTEM, reflectorPrompt } from "./reflector-prompt.ts";

/**
 * The playbook's learner: `prepare` puts the playbook into the root's first message; `finish` tags the bullets
 * the root cited (helpful when the run completed, harmful when it failed), then asks the reflector (one model
 * call, bounded) for lessons and tags, which the curator (`Playbook.apply`) turns into operations.
 */

export interface PlaybookLearnerOptions {
  /** The reflector's model (default: the playbook's `model`); none: only cited ids are tagged. */
  model?: MemoryModel;
  /** Output tokens of the reflector's reply (default 1,000). */
  maxOutputTokens?: number;
  /** Time the reflector call may take (ms, default 60,000). */
  timeoutMs?: number;
}

/** Statuses that say how the playbook did: completed runs tag cited bullets helpful, failed ones harmful. */
const OUTCOME_TAGS: Record<string, PlaybookTag> = { completed: "helpful", failed: "harmful" };
const CITED = /\bpb-[0-9a-f]{8,16}\b/g;

/** Bullet ids the root cited in its replies. */
export function citedIds(run: Pick<FinishedRun, "events">): string[] {
  const ids = new Set<string>();
  for (const event of run.events) {
    if (event.type !== "iteration-end" || event.depth !== 0) continue;
    for (const match of event.reply.matchAll(CITED)) ids.add(match[0]);
  }
  return [...ids];
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

export function playbookLearner(playbook: Playbook, options: PlaybookLearnerOptions = {}): RunLearner {
  const model = options.model ?? playbook.model;
  const client = model === undefined ? undefined : memoryModelClient(model);
  return {
    name: "playbook",
    async prepare() {
      return playbook.render();
    },
    async finish(run) {
      const tag = OUTCOME_TAGS[run.status];
      if (tag === undefined) return undefined;
      const problems: string[] = [];
      try {
        const view = await playbook.view();
        const replay = await playbook.replay();
        const operations: ProposedOperation[] = [];
        const tagged = new Set<string>();
        for (const id of citedIds(run)) {
          const bullet = replay.resolve(id);
          if (!bullet || tagged.has(bullet.id)) continue;
          tagged.add(bullet.id);
          operations.push({ type: "TAG", bulletId: bullet.id, tag });
        }
        if (operations.length > 0) {
          await playbook.apply(operations, { by: "citation", runId: run.runId, prune: false });
        }
        if (client === undefined) return undefined;
        const shown = view.bullets.filter((bullet) => bullet.inPrompt).sort(byRank);
        let reply: string;
        try {
          const response = await client.generate({
            system: REFLECTOR_SYSTEM,
            prompt: reflectorPrompt(run, shown),
            maxOutputTokens: options.maxOutputTokens ?? 1000,
            temperature: 0,
            signal: AbortSignal.timeout(options.timeoutMs ?? 60_000),
          });
          reply = response.text;
        } catch (error) {
          return `the reflector call failed (${message(error)})`;
        }
        const reflection = parseReflection(reply);
        if (typeof reflection === "string") return `the reflector's reply was not used: ${reflection}`;
        const curated: ProposedOperation[] = [];
        for (const { id, tag: judged } of reflection.tags) {
          const bullet = replay.resolve(id);
          // One tag per bullet and run: a cited bullet already has its tag from the outcome.
          if (!bullet || tagged.has(bullet.id)) continue;
          tagged.add(bullet.id);
          curated.push({ type: "TAG", bulletId: bullet.id, tag: judged });
        }
        for (const lesson of reflection.lessons) curated.push({ type: "ADD", ...lesson });
        const result = await playbook.apply(curated, { by: "reflector", runId: run.runId });
        problems.push(...result.skipped);
      } catch (error) {
        return `could not update the playbook (${message(error)})`;
      }
      return problems.length > 0 ? `left out: ${problems.join("; ")}` : undefined;
    },
  };
}
