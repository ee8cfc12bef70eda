import { MemoryError } from "../errors/memory-error.ts";
import { addCallUsage, emptyUsageTotals, type UsageTotals } from "../models/usage.ts";
import type { MemoryItem, NewMemoryItem } from "../spec/memory-store.ts";
import { CONSOLIDATION_SYSTEM, consolidationPrompt, parseConsolidation } from "./consolidation-prompt.ts";
import type { Memory } from "./memory.ts";
import { type MemoryModel, memoryModelClient } from "./memory-model.ts";

export interface ConsolidateOptions {
  /** Only this scope's episodes (default: every scope). */
  scope?: string;
  model?: MemoryModel;
  /** Episodes per model call (default 20). */
  batchSize?: number;
  /** Stop after this many model calls (default: no limit); the rest waits for the next run. */
  maxCalls?: number;
  signal?: AbortSignal;
  /** Told after each batch. */
  onBatch?: (report: ConsolidationReport) => void;
}

export interface ConsolidationReport {
  /** Episodes read (consolidated or not). */
  episodes: number;
  batches: number;
  /** Model calls made: one per batch. */
  calls: number;
  /** Batches whose reply could not be used; their episodes stay new and are tried again next time. */
  failedBatches: number;
  /** Of those, batches whose model call itself failed (HTTP error, timeout), not its reply. */
  failedCalls: number;
  /** Facts stored, of which `superseded` replaced a current fact; `unchanged` repeated a current one. */
  facts: number;
  superseded: number;
  unchanged: number;
  summaries: number;
  usage: UsageTotals;
  errors: string[];
}

/** Annotation label of episodes that consolidation has read. */
export const CONSOLIDATED = "consolidated";
const PAGE = 500;
const MARK_AT = "E";
/** Keys of current facts listed beside the relevant ones. */
const MAX_OTHER_KEYS = 300;

function newReport(): ConsolidationReport {
  return {
    episodes: 0,
    batches: 0,
    calls: 0,
    failedBatches: 0,
    failedCalls: 0,
    facts: 0,
    superseded: 0,
    unchanged: 0,
    summaries: 0,
    usage: emptyUsageTotals(),
    errors: [],
  };
}

/**
 * What was added by code (a run's `memory_add`, an MCP client) stays marked when it is consolidated: a fact or
 * summary made from such an item is "added by code" too, so recall never shows planted text as a trusted fact.
 */
function untrustedOf(sources: readonly { metadata: Record<string, unknown> }[]): { addedBy?: "code" } {
  return sources.some((item) => item.metadata.addedBy === "code") ? { addedBy: "code" } : {};
}

/**
 * Reads episodes no consolidation has read yet, in insertion order, a batch per model call; stores the facts
 * (latest wins by key) and topic summaries the model extracts, linked to their source episodes, then marks the
 * batch. A batch whose reply is unusable is left unmarked. Running it again finds nothing new and calls nothing.
 */
export async function consolidateEpisodes(
  memory: Memory,
  options: ConsolidateOptions,
): Promise<ConsolidationReport> {
  if (options.model === undefined) {
    throw new MemoryError({
      message: "consolidation needs a model: pass --model SPEC (model in createMemory or consolidate)",
      reason: "invalid",
    });
  }
  const client = memoryModelClient(options.model);
  const batchSize = Math.max(1, Math.min(options.batchSize ?? 20, 200));
  const report = newReport();
  const { store } = memory;
  let after: string | undefined;
  for (;;) {
    const page = await store.list({
      kind: "episode",
      withoutAnnotation: CONSOLIDATED,
      ...(options.scope === undefined ? {} : { scope: options.scope }),
      ...(after === undefined ? {} : { after }),
      limit: PAGE,
    });
    if (page.length === 0) break;
    after = page.at(-1)?.id;
    for (const batch of batchesByScope(page, batchSize)) {
      if (options.signal?.aborted || (options.maxCalls !== undefined && report.calls >= options.maxCalls)) {
        return report;
      }
      report.episodes += batch.length;
      report.batches++;
      const live = batch.filter((episode) => episode.text !== "");
      if (live.length > 0) {
        const ok = await consolidateBatch(memory, client, live, report, options.signal);
        if (!ok) {
          report.failedBatches++;
          options.onBatch?.(report);
          continue;
        }
      }
      await store.annotate(
        batch.map((episode) => episode.id),
        CONSOLIDATED,
        { model: client.label },
      );
      options.onBatch?.(report);
    }
  }
  return report;
}

function* batchesByScope(page: MemoryItem[], size: number): Generator<MemoryItem[]> {
  const byScope = new Map<string, MemoryItem[]>();
  for (const episode of page) {
    const list = byScope.get(episode.scope) ?? [];
    list.push(episode);
    byScope.set(episode.scope, list);
  }
  for (const episodes of byScope.values()) {
    for (let start = 0; start < episodes.length; start += size) yield episodes.slice(start, start + size);
  }
}

/**
 * What the model should know of the scope: current facts and summaries near the batch's words (from the index),
 * and the keys of other current facts, so an update reuses its key even when it shares no word with the old text.
 */
async function knownItems(
  memory: Memory,
  batch: MemoryItem[],
): Promise<{ facts: MemoryItem[]; summaries: MemoryItem[]; otherKeys: string[] }> {
  const scope = batch[0]?.scope ?? memory.scope;
  const facts = new Map<string, MemoryItem>();
  const summaries = new Map<string, MemoryItem>();
  for (const episode of batch) {
    const hits = await memory.store.search({ text: episode.text, k: 5, scope, kinds: ["fact", "summary"] });
    for (const { item } of hits) (item.kind === "fact" ? facts : summaries).set(item.id, item);
  }
  const shown = [...facts.values()].slice(0, 40);
  const shownKeys = new Set(shown.map((fact) => fact.key));
  const current = await memory.store.list({ kind: "fact", scope, current: true, limit: MAX_OTHER_KEYS });
  const otherKeys = [...new Set(current.map((fact) => fact.key ?? ""))].filter(
    (key) => key && !shownKeys.has(key),
  );
  return { facts: shown, summaries: [...summaries.values()].slice(0, 10), otherKeys };
}

async function consolidateBatch(
  memory: Memory,
  client: ReturnType<typeof memoryModelClient>,
  batch: MemoryItem[],
  report: ConsolidationReport,
  signal: AbortSignal | undefined,
): Promise<boolean> {
  const scope = batch[0]?.scope ?? memory.scope;
  const known = await knownItems(memory, batch);
  const labels = new Map(batch.map((episode, index) => [`${MARK_AT}${index + 1}`, episode]));
  let reply: string;
  try {
    report.calls++;
    const response = await client.generate({
      system: CONSOLIDATION_SYSTEM,
      prompt: consolidationPrompt(labels, known),
      maxOutputTokens: 4000,
      temperature: 0,
      ...(signal ? { signal } : {}),
    });
    report.usage = addCallUsage(report.usage, response.usage);
    reply = response.text;
  } catch (error) {
    report.failedCalls++;
    report.errors.push(`model call failed: ${(error as Error).message}`);
    return false;
  }
  const parsed = parseConsolidation(reply);
  if (typeof parsed === "string") {
    report.errors.push(`unusable reply for ${batch.length} episodes: ${parsed}`);
    return false;
  }
  const newFacts: NewMemoryItem[] = [];
  for (const fact of parsed.facts) {
    const sources = fact.sources.map((label) => labels.get(label)).filter((episode) => episode !== undefined);
    const from = sources.length > 0 ? sources : batch;
    // ISO times sort as text: the fact is as new as its newest source.
    const validFrom = from
      .map((episode) => episode.validFrom)
      .sort()
      .at(-1) as string;
    const [current] = await memory.store.list({
      kind: "fact",
      scope,
      key: fact.key,
      current: true,
      limit: 1,
    });
    if (current && current.text.trim() === fact.text.trim()) {
      report.unchanged++;
      continue;
    }
    if (current && current.validFrom <= validFrom) report.superseded++;
    newFacts.push({
      kind: "fact",
      key: fact.key,
      text: fact.text,
      scope,
      source: from.map((episode) => episode.id),
      validFrom,
      supersedeSameKey: true,
      metadata: { consolidatedBy: client.label, ...untrustedOf(from) },
    });
  }
  const stored = await memory.insert(newFacts, signal ? { signal } : {});
  report.facts += stored.length;
  const newSummaries: NewMemoryItem[] = parsed.summaries.map((summary) => {
    const facts = stored.filter((fact) => fact.key?.split(".")[0] === summary.topic);
    return {
      kind: "summary",
      key: summary.topic,
      text: summary.text,
      scope,
      source: facts.map((fact) => fact.id),
      supersedeSameKey: true,
      // A summary of no stored fact was written from the whole batch.
      metadata: { consolidatedBy: client.label, ...untrustedOf(facts.length > 0 ? facts : batch) },
    };
  });
  report.summaries += (await memory.insert(newSummaries, signal ? { signal } : {})).length;
  return true;
}
