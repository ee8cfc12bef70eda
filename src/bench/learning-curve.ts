import type { BenchRow } from "./bench-results.ts";
import { formatSize } from "./sizes.ts";
import { LEARNING_FAMILIES, LEARNING_SUITE, learningFamilyOf } from "./suites/learning-stream.ts";
import { linePanel, PANEL_HEIGHT, svgDocument } from "./svg-chart.ts";
import { LEARNING_SUFFIX } from "./task-memory.ts";

/**
 * The learning curve: for a stream of tasks run in order (the `learning` suite, or any suite a `+learning`
 * strategy ran on), accuracy and cost per task (or per window of tasks) over the stream, one series per strategy.
 */

/** One window of a strategy's stream. */
export interface CurvePoint {
  /** First and last task index of the window. */
  from: number;
  to: number;
  /** Mean score of the tasks that ran (an infrastructure failure is left out); null when none did. */
  accuracy: number | null;
  /** Mean cost of the window's rows; null when any is unpriced. */
  costUsd: number | null;
  /** Mean input + output tokens. */
  tokens: number;
  tasks: number;
}

export interface LearningCurve {
  suite: string;
  size: number;
  /** Tasks per window: 1 for short streams, else a multiple of the learning suite's families. */
  window: number;
  /** Strategy -> its points, in stream order. */
  series: Map<string, CurvePoint[]>;
  /** Whether every row is priced (else the curve shows tokens). */
  priced: boolean;
}

const mean = (values: number[]) =>
  values.length === 0 ? 0 : values.reduce((sum, value) => sum + value, 0) / values.length;

/** Whether the rows hold a stream to draw: the learning suite, or a `+learning` strategy. */
export function hasLearningCurve(rows: BenchRow[]): boolean {
  return rows.some((row) => row.suite === LEARNING_SUITE || row.strategy.endsWith(LEARNING_SUFFIX));
}

/** Tasks per window: every task up to 12, else windows of 4 tasks (one of each family) or more, 25 or so in all. */
export function windowOf(tasks: number): number {
  return tasks <= 12 ? 1 : LEARNING_FAMILIES.length * Math.ceil(tasks / 100);
}

/** The curves, per suite and size that has a stream. */
export function learningCurves(rows: BenchRow[]): LearningCurve[] {
  const streams = new Set(
    rows
      .filter((row) => row.suite === LEARNING_SUITE || row.strategy.endsWith(LEARNING_SUFFIX))
      .map((row) => `${row.suite}|${row.size}`),
  );
  const curves: LearningCurve[] = [];
  for (const key of [...streams].sort()) {
    const [suite, sizeText] = key.split("|") as [string, string];
    const size = Number(sizeText);
    const ofStream = rows.filter((row) => row.suite === suite && row.size === size);
    const tasks = Math.max(...ofStream.map((row) => row.task)) + 1;
    const window = windowOf(tasks);
    const series = new Map<string, CurvePoint[]>();
    for (const strategy of [...new Set(ofStream.map((row) => row.strategy))].sort()) {
      const points: CurvePoint[] = [];
      for (let from = 0; from < tasks; from += window) {
        const to = Math.min(tasks, from + window) - 1;
        const group = ofStream.filter(
          (row) => row.strategy === strategy && row.task >= from && row.task <= to,
        );
        if (group.length === 0) continue;
        const ran = group.filter((row) => row.status !== "failed");
        points.push({
          from,
          to,
          accuracy: ran.length === 0 ? null : mean(ran.map((row) => row.score)),
          costUsd: group.some((row) => row.costUsd === null)
            ? null
            : mean(group.map((row) => row.costUsd as number)),
          tokens: mean(group.map((row) => row.inputTokens + row.outputTokens)),
          tasks: group.length,
        });
      }
      series.set(strategy, points);
    }
    curves.push({ suite, size, window, series, priced: ofStream.every((row) => row.costUsd !== null) });
  }
  return curves;
}

function halves(points: CurvePoint[], tasks: number): string {
  const half = Math.ceil(tasks / 2);
  const part = (keep: (point: CurvePoint) => boolean) => {
    const values = points.filter((point) => keep(point) && point.accuracy !== null);
    const weight = values.reduce((sum, point) => sum + point.tasks, 0);
    return weight === 0
      ? "-"
      : (values.reduce((sum, point) => sum + (point.accuracy as number) * point.tasks, 0) / weight).toFixed(
          3,
        );
  };
  return `first half ${part((point) => point.to < half)}, second half ${part((point) => point.from >= half)}`;
}

/** The learning-curve sections of results.md ("" when no stream ran). */
export function renderLearningCurveMarkdown(rows: BenchRow[]): string {
  const lines: string[] = [];
  for (const curve of learningCurves(rows)) {
    const strategies = [...curve.series.keys()];
    const tasks = Math.max(
      0,
      ...[...curve.series.values()].flatMap((points) => points.map((point) => point.to + 1)),
    );
    const family = curve.suite === LEARNING_SUITE && curve.window === 1;
    const costHead = curve.priced ? "mean cost" : "mean tokens";
    lines.push(
      "",
      `## learning curve: ${curve.suite} ${formatSize(curve.size)}`,
      "",
      `Tasks in stream order${curve.suite === LEARNING_SUITE ? ` (task i is of family i mod ${LEARNING_FAMILIES.length})` : ""}; ${curve.window === 1 ? "one row per task" : `windows of ${curve.window} tasks`}. Accuracy by halves: ${strategies.map((strategy) => `${strategy}: ${halves(curve.series.get(strategy) ?? [], tasks)}`).join("; ")}.`,
      "",
      `| task${curve.window === 1 ? "" : "s"} |${family ? " family |" : ""}${strategies.map((strategy) => ` ${strategy} accuracy | ${strategy} ${costHead} |`).join("")}`,
      `|---|${family ? "---|" : ""}${strategies.map(() => "---|---|").join("")}`,
    );
    for (let from = 0; from < tasks; from += curve.window) {
      const to = Math.min(tasks, from + curve.window) - 1;
      const cells = strategies.map((strategy) => {
        const point = curve.series.get(strategy)?.find((item) => item.from === from);
        if (point === undefined) return " - | - |";
        const accuracy = point.accuracy === null ? "failed" : point.accuracy.toFixed(3);
        const cost = curve.priced
          ? `$${(point.costUsd ?? 0).toFixed(4)}`
          : Math.round(point.tokens).toLocaleString("en-US");
        return ` ${accuracy} | ${cost} |`;
      });
      lines.push(
        `| ${from === to ? from : `${from}-${to}`} |${family ? ` ${learningFamilyOf(from).name} |` : ""}${cells.join("")}`,
      );
    }
  }
  return lines.length === 0 ? "" : `${lines.join("\n")}\n`;
}

const WIDTH = 460;

/** One panel: x = the window's first task (stream order), y from 0 to `max`. */
function panel(
  title: string,
  yLabel: string,
  lines: Array<{ points: Array<{ x: number; y: number }> }>,
  xMax: number,
  max: number,
  x0: number,
  y0: number,
  format: (value: number) => string,
): string {
  const at = (x: number) => (xMax === 0 ? 0.5 : x / xMax);
  return linePanel({
    title,
    yLabel,
    xLabel: "task in the stream",
    xTicks: [...new Set([0, Math.round(xMax / 2), xMax])].map((x) => ({ at: at(x), label: String(x) })),
    lines: lines.map((line) => line.points.map((point) => ({ at: at(point.x), value: point.y }))),
    max,
    width: WIDTH,
    x0,
    y0,
    format,
  });
}

/** learning-curve.svg: per stream, accuracy and cost (tokens when unpriced) over the stream, one line per strategy. */
export function renderLearningCurvePlot(rows: BenchRow[]): string {
  const curves = learningCurves(rows);
  const strategies = [...new Set(curves.flatMap((curve) => [...curve.series.keys()]))].sort();
  const parts: string[] = [];
  curves.forEach((curve, row) => {
    const y0 = row * PANEL_HEIGHT;
    const name = `${curve.suite} ${formatSize(curve.size)}`;
    const xMax = Math.max(
      0,
      ...[...curve.series.values()].flatMap((points) => points.map((point) => point.from)),
    );
    const of = (value: (point: CurvePoint) => number | null) =>
      strategies.map((strategy) => ({
        points: (curve.series.get(strategy) ?? [])
          .filter((point) => value(point) !== null)
          .map((point) => ({ x: point.from, y: value(point) as number })),
      }));
    const per = curve.window === 1 ? "per task" : `per ${curve.window} tasks`;
    parts.push(
      panel(
        `${name}: accuracy ${per}`,
        "accuracy",
        of((point) => point.accuracy),
        xMax,
        1,
        0,
        y0,
        (v) => v.toFixed(2),
      ),
    );
    const cost = of((point) => (curve.priced ? point.costUsd : point.tokens));
    const max = Math.max(0, ...cost.flatMap((line) => line.points.map((point) => point.y)));
    parts.push(
      curve.priced
        ? panel(
            `${name}: mean cost ${per}`,
            "USD per task",
            cost,
            xMax,
            max,
            WIDTH,
            y0,
            (v) => `$${v.toFixed(3)}`,
          )
        : panel(
            `${name}: mean tokens ${per} (price unknown)`,
            "tokens per task",
            cost,
            xMax,
            max,
            WIDTH,
            y0,
            (v) => Math.round(v).toLocaleString("en-US"),
          ),
    );
  });
  return svgDocument(WIDTH * 2, curves.length * PANEL_HEIGHT + 40, parts, strategies, 140);
}
