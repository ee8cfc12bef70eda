import type { BenchRow } from "./bench-results.ts";
import { renderLearningCurveMarkdown } from "./learning-curve.ts";
import { formatSize } from "./sizes.ts";

export interface GroupSummary {
  suite: string;
  size: number;
  strategy: string;
  tasks: number;
  accuracy: number;
  meanInputTokens: number;
  meanOutputTokens: number;
  /** Mean cost of the priced rows; null when none was priced. */
  meanCostUsd: number | null;
  p50LatencyMs: number;
  p95LatencyMs: number;
  /** Rows that did not complete. */
  incomplete: number;
}

function percentile(sorted: number[], fraction: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)] ?? 0;
}

const mean = (values: number[]) =>
  values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;

/** Groups rows by suite, size and strategy. */
export function summarize(rows: BenchRow[]): GroupSummary[] {
  const groups = new Map<string, BenchRow[]>();
  for (const row of rows) {
    const key = `${row.suite}|${row.size}|${row.strategy}`;
    groups.set(key, [...(groups.get(key) ?? []), row]);
  }
  return [...groups.values()]
    .map((group) => {
      const first = group[0] as BenchRow;
      const latencies = group.map((row) => row.latencyMs).sort((a, b) => a - b);
      const priced = group.filter((row) => row.costUsd !== null).map((row) => row.costUsd as number);
      return {
        suite: first.suite,
        size: first.size,
        strategy: first.strategy,
        tasks: group.length,
        // Accuracy over the tasks that ran: an infrastructure failure is an error, not a wrong answer.
        accuracy: mean(group.filter((row) => row.status !== "failed").map((row) => row.score)),
        meanInputTokens: mean(group.map((row) => row.inputTokens)),
        meanOutputTokens: mean(group.map((row) => row.outputTokens)),
        meanCostUsd: priced.length === 0 ? null : mean(priced),
        p50LatencyMs: percentile(latencies, 0.5),
        p95LatencyMs: percentile(latencies, 0.95),
        incomplete: group.filter((row) => row.status !== "completed").length,
      };
    })
    .sort(
      (a, b) => a.suite.localeCompare(b.suite) || a.size - b.size || a.strategy.localeCompare(b.strategy),
    );
}

/** results.md: one table per suite. */
export function renderMarkdown(
  rows: BenchRow[],
  header: { model: string; subModel: string; seed: number; note?: string },
): string {
  const summaries = summarize(rows);
  const lines = [
    "# rlm bench results",
    "",
    `Model: ${header.model} · sub-model: ${header.subModel} · seed: ${header.seed} · ${rows.length} task runs.`,
    ...(header.note ? ["", `> ${header.note}`] : []),
  ];
  for (const suite of [...new Set(summaries.map((summary) => summary.suite))]) {
    lines.push(
      "",
      `## ${suite}`,
      "",
      "| size | strategy | tasks | accuracy | mean input tokens | mean output tokens | mean cost | p50 latency | p95 latency | not completed |",
      "|---|---|---|---|---|---|---|---|---|---|",
    );
    for (const summary of summaries.filter((item) => item.suite === suite)) {
      lines.push(
        `| ${formatSize(summary.size)} | ${summary.strategy} | ${summary.tasks} | ${summary.accuracy.toFixed(3)} | ${Math.round(summary.meanInputTokens).toLocaleString("en-US")} | ${Math.round(summary.meanOutputTokens).toLocaleString("en-US")} | ${summary.meanCostUsd === null ? "unknown" : `$${summary.meanCostUsd.toFixed(4)}`} | ${(summary.p50LatencyMs / 1000).toFixed(2)} s | ${(summary.p95LatencyMs / 1000).toFixed(2)} s | ${summary.incomplete} |`,
      );
    }
  }
  // Streams run in order (the learning suite, +learning strategies): their learning curves, after the tables.
  return `${lines.join("\n")}\n${renderLearningCurveMarkdown(rows)}`;
}
