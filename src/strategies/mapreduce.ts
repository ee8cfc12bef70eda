import { contextChunks, contextLength } from "../context/context-text.ts";
import type { RunRequest } from "../engine/rlm.ts";
import { DEFAULT_RUN_LIMITS } from "../engine/run-limits.ts";
import type { Strategy } from "./strategy.ts";
import { runStrategy, type StrategyOptions, type StrategySession } from "./strategy-session.ts";

export interface MapReduceOptions extends StrategyOptions {
  /** Chunk size in tokens (default 25,000; about four characters a token). */
  chunkTokens?: number;
}

const NOTHING = "NONE";

/** How many chunks are read ahead of their answers: the run's sub-call concurrency. */
function inFlightLimit(options: StrategyOptions): number {
  return options.limits?.concurrency ?? DEFAULT_RUN_LIMITS.concurrency;
}

/**
 * Maps a stream of chunks with at most `limit` in flight, so a file context is never held whole in memory;
 * results keep the chunks' order.
 */
async function mapStreaming<T>(
  items: Iterable<string>,
  work: (item: string, index: number) => Promise<T>,
  limit: number,
): Promise<T[]> {
  const results: T[] = [];
  const running = new Set<Promise<void>>();
  let failure: { error: unknown } | undefined;
  let index = 0;
  for (const item of items) {
    if (failure) break;
    const at = index++;
    const task: Promise<void> = work(item, at).then(
      (result) => {
        results[at] = result;
      },
      (error: unknown) => {
        failure ??= { error };
      },
    );
    const tracked = task.finally(() => running.delete(tracked));
    running.add(tracked);
    if (running.size >= limit) await Promise.race(running);
  }
  await Promise.all(running);
  if (failure) throw failure.error;
  return results;
}

/** Groups findings into batches that each fit in `maxChars`. */
function group(findings: string[], maxChars: number): string[][] {
  const groups: string[][] = [];
  let current: string[] = [];
  let size = 0;
  for (const finding of findings) {
    if (current.length > 0 && size + finding.length > maxChars) {
      groups.push(current);
      current = [];
      size = 0;
    }
    current.push(finding);
    size += finding.length;
  }
  if (current.length > 0) groups.push(current);
  return groups;
}

function numbered(findings: string[]): string {
  return findings.map((finding, index) => `[${index + 1}] ${finding}`).join("\n\n");
}

/** Combines findings level by level until they fit one prompt. */
async function reduce(
  session: StrategySession,
  query: string,
  findings: string[],
  maxChars: number,
): Promise<string[]> {
  let level = findings;
  while (level.length > 1 && level.reduce((sum, finding) => sum + finding.length, 0) > maxChars) {
    const groups = group(level, maxChars);
    if (groups.length === level.length) break;
    session.steps++;
    level = await Promise.all(
      groups.map((batch) =>
        session.call(
          session.sub,
          `Question: ${query}

Findings from consecutive parts of a long document:
${numbered(batch)}

Merge these findings into one list. Keep every detail that may help answer the question (exact names, numbers, dates, counts per part); drop repetition. Reply with the merged findings only.`,
        ),
      ),
    );
  }
  return level;
}

/**
 * Map-reduce: every chunk is asked the question in parallel, then the findings are combined (hierarchically when
 * they are too long for one prompt) into one answer.
 */
export function createMapReduceStrategy(options: MapReduceOptions): Strategy {
  const chunkChars = (options.chunkTokens ?? 25_000) * 4;
  return {
    name: "mapreduce",
    run: (request: RunRequest) =>
      runStrategy("mapreduce", options, request, async (session) => {
        const total = Math.max(1, Math.ceil(contextLength(request.context) / chunkChars));
        const ask = (chunk: string, index: number) =>
          session.call(
            session.sub,
            `This is part ${index + 1} of about ${total} of a long document.
<part>
${chunk}
</part>

Question about the whole document: ${request.query}

Report what this part contributes to the answer: exact facts, names, numbers, or counts for this part. If it contributes nothing, reply ${NOTHING}.`,
          );
        session.steps = 1;
        const mapped = await mapStreaming(
          contextChunks(request.context, chunkChars),
          ask,
          inFlightLimit(options),
        );
        const findings = mapped
          .map((finding) => finding.trim())
          .filter((finding) => finding !== "" && !/^none\W*$/i.test(finding));
        const maxChars = Math.floor(session.windowOf(session.main) * 4 * 0.5);
        const reduced = await reduce(
          session,
          request.query,
          findings.length > 0 ? findings : [NOTHING],
          maxChars,
        );
        session.steps++;
        return session.call(
          session.main,
          `Question: ${request.query}

Findings from all parts of the document, in order:
${numbered(reduced)}

Combine them into the final answer. Answer as briefly as the question allows.`,
        );
      }),
  };
}
