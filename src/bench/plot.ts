import type { BenchRow } from "./bench-results.ts";
import { type GroupSummary, summarize } from "./report.ts";
import { formatSize } from "./sizes.ts";

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b"];
const PANEL = { width: 420, height: 260, left: 64, right: 16, top: 36, bottom: 44 };

function escapeXml(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

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
  const innerWidth = PANEL.width - PANEL.left - PANEL.right;
  const innerHeight = PANEL.height - PANEL.top - PANEL.bottom;
  const max = Math.max(1e-9, ...series.flatMap((line) => line.points.map((point) => point.value)));
  const xOf = (size: number) =>
    x0 +
    PANEL.left +
    (sizes.length === 1 ? innerWidth / 2 : (sizes.indexOf(size) / (sizes.length - 1)) * innerWidth);
  const yOf = (value: number) => y0 + PANEL.top + innerHeight - (value / max) * innerHeight;
  const parts = [
    `<text x="${x0 + PANEL.width / 2}" y="${y0 + 20}" text-anchor="middle" font-size="14" font-weight="bold">${escapeXml(title)}</text>`,
    `<line x1="${x0 + PANEL.left}" y1="${y0 + PANEL.top + innerHeight}" x2="${x0 + PANEL.left + innerWidth}" y2="${y0 + PANEL.top + innerHeight}" stroke="#333"/>`,
    `<line x1="${x0 + PANEL.left}" y1="${y0 + PANEL.top}" x2="${x0 + PANEL.left}" y2="${y0 + PANEL.top + innerHeight}" stroke="#333"/>`,
    `<text x="${x0 + 14}" y="${y0 + PANEL.top + innerHeight / 2}" font-size="11" transform="rotate(-90 ${x0 + 14} ${y0 + PANEL.top + innerHeight / 2})" text-anchor="middle">${escapeXml(yLabel)}</text>`,
  ];
  for (const tick of [0, 0.5, 1]) {
    parts.push(
      `<text x="${x0 + PANEL.left - 6}" y="${yOf(tick * max) + 4}" font-size="10" text-anchor="end">${escapeXml(format(tick * max))}</text>`,
    );
  }
  for (const size of sizes) {
    parts.push(
      `<text x="${xOf(size)}" y="${y0 + PANEL.top + innerHeight + 16}" font-size="10" text-anchor="middle">${formatSize(size)}</text>`,
    );
  }
  parts.push(
    `<text x="${x0 + PANEL.left + innerWidth / 2}" y="${y0 + PANEL.height - 6}" font-size="11" text-anchor="middle">input size (tokens)</text>`,
  );
  series.forEach((line, index) => {
    const color = COLORS[index % COLORS.length];
    const points = line.points.map((point) => `${xOf(point.size).toFixed(1)},${yOf(point.value).toFixed(1)}`);
    parts.push(`<polyline fill="none" stroke="${color}" stroke-width="2" points="${points.join(" ")}"/>`);
    for (const point of points) {
      const [cx, cy] = point.split(",");
      parts.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${color}"/>`);
    }
  });
  return parts.join("\n");
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
  const height = suites.length * PANEL.height + 40;
  const width = PANEL.width * 2;
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif">`,
    `<rect width="100%" height="100%" fill="white"/>`,
  ];
  suites.forEach((suite, row) => {
    const ofSuite = summaries.filter((summary) => summary.suite === suite);
    const sizes = [...new Set(ofSuite.map((summary) => summary.size))].sort((a, b) => a - b);
    const priced = ofSuite.some((summary) => summary.meanCostUsd !== null);
    const y0 = row * PANEL.height;
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
            PANEL.width,
            y0,
            (value) => `$${value.toFixed(3)}`,
          )
        : panel(
            `${suite}: mean tokens (price unknown)`,
            "tokens per task",
            sizes,
            seriesOf(ofSuite, (summary) => summary.meanInputTokens + summary.meanOutputTokens),
            PANEL.width,
            y0,
            (value) => Math.round(value).toLocaleString("en-US"),
          ),
    );
  });
  strategies.forEach((strategy, index) => {
    const x = 20 + index * 110;
    const y = height - 16;
    parts.push(
      `<rect x="${x}" y="${y - 9}" width="12" height="12" fill="${COLORS[index % COLORS.length]}"/>`,
    );
    parts.push(`<text x="${x + 18}" y="${y + 1}" font-size="12">${escapeXml(strategy)}</text>`);
  });
  parts.push("</svg>");
  return `${parts.join("\n")}\n`;
}
