import type { BenchRow } from "./bench-results.ts";
import { type GroupSummary, summarize } from "./report.ts";
import { formatSize } from "./sizes.ts";
import { linePanel, PANEL_HEIGHT, svgDocument } from "./svg-chart.ts";

const WIDTH = 420;

interface Series {
  strategy: string;
  points: Array<{ size: number; value: number }>;
}

/** One line chart: x = input size (evenly spaced, in order), y from 0 to the largest value. */
function panel(
  title: string,
  yLabel: string,
  sizes: number[],
  series: Series[],
  x0: number,
  y0: number,
  format: (value: number) => string,
): string {
  const at = (size: number) => (sizes.length === 1 ? 0.5 : sizes.indexOf(size) / (sizes.length - 1));
  return linePanel({
    title,
    yLabel,
    xLabel: "input size (tokens)",
    xTicks: sizes.map((size) => ({ at: at(size), label: formatSize(size) })),
    lines: series.map((line) => line.points.map((point) => ({ at: at(point.size), value: point.value }))),
    max: Math.max(...series.flatMap((line) => line.points.map((point) => point.value))),
    width: WIDTH,
    x0,
    y0,
    format,
  });
}

function seriesOf(summaries: GroupSummary[], value: (summary: GroupSummary) => number): Series[] {
  return [...new Set(summaries.map((summary) => summary.strategy))].map((strategy) => ({
    strategy,
    points: summaries
      .filter((summary) => summary.strategy === strategy)
      .map((summary) => ({ size: summary.size, value: value(summary) })),
  }));
}

/** plot.svg: per suite, accuracy and cost (or tokens, when no price is known) against input size. */
export function renderPlot(rows: BenchRow[]): string {
  const summaries = summarize(rows);
  const suites = [...new Set(summaries.map((summary) => summary.suite))];
  const strategies = [...new Set(summaries.map((summary) => summary.strategy))];
  const parts: string[] = [];
  suites.forEach((suite, row) => {
    const ofSuite = summaries.filter((summary) => summary.suite === suite);
    const sizes = [...new Set(ofSuite.map((summary) => summary.size))].sort((a, b) => a - b);
    const priced = ofSuite.some((summary) => summary.meanCostUsd !== null);
    const y0 = row * PANEL_HEIGHT;
    parts.push(
      panel(
        `${suite}: accuracy`,
        "accuracy",
        sizes,
        seriesOf(ofSuite, (summary) => summary.accuracy),
        0,
        y0,
        (value) => value.toFixed(2),
      ),
    );
    parts.push(
      priced
        ? panel(
            `${suite}: mean cost`,
            "USD per task",
            sizes,
            seriesOf(ofSuite, (summary) => summary.meanCostUsd ?? 0),
            WIDTH,
            y0,
            (value) => `$${value.toFixed(3)}`,
          )
        : panel(
            `${suite}: mean tokens (price unknown)`,
            "tokens per task",
            sizes,
            seriesOf(ofSuite, (summary) => summary.meanInputTokens + summary.meanOutputTokens),
            WIDTH,
            y0,
            (value) => Math.round(value).toLocaleString("en-US"),
          ),
    );
  });
  return svgDocument(WIDTH * 2, suites.length * PANEL_HEIGHT + 40, parts, strategies, 110);
}
