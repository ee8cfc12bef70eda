import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

/** One measured figure. `ratio` compares against a baseline measured in the same run. */
export interface Measurement {
  name: string;
  value: number;
  unit: string;
  /** What the figure is compared with, when it is a ratio. */
  baseline?: string;
  /** The goal from the issue, as text, for the report. */
  goal?: string;
}

export interface Benchmark {
  name: string;
  run(): Promise<Measurement[]>;
}

/** Median time of `fn` in ms over `iterations` runs after `warmup` runs. */
export async function timeIt(fn: () => unknown, iterations = 50, warmup = 5): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < iterations; i++) {
    const start = performance.now();
    await fn();
    times.push(performance.now() - start);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(times.length / 2)] ?? Number.NaN;
}

function formatValue(value: number): string {
  return Math.abs(value) >= 100 ? value.toFixed(0) : value.toPrecision(3);
}

/** Runs the benchmarks in order, prints a table, and writes bench/results/latest.{json,md}. */
export async function runBenchmarks(benchmarks: Benchmark[], filter?: string): Promise<void> {
  const exact = benchmarks.filter((benchmark) => benchmark.name === filter);
  const selected =
    exact.length > 0
      ? exact
      : benchmarks.filter((benchmark) => filter === undefined || benchmark.name.includes(filter));
  const directory = join(dirname(fileURLToPath(import.meta.url)), "results");
  const latest = join(directory, "latest.json");
  // A filtered run replaces only its own benchmarks' rows; the others stay as the last run left them.
  const ran = new Set(selected.map((benchmark) => benchmark.name));
  const kept: Array<Measurement & { benchmark: string }> = existsSync(latest)
    ? (JSON.parse(readFileSync(latest, "utf8")).rows ?? []).filter(
        (row: { benchmark: string }) => !ran.has(row.benchmark),
      )
    : [];
  const fresh: Array<Measurement & { benchmark: string }> = [];
  for (const benchmark of selected) {
    process.stderr.write(`running ${benchmark.name}...\n`);
    for (const measurement of await benchmark.run())
      fresh.push({ benchmark: benchmark.name, ...measurement });
  }
  const order = benchmarks.map((benchmark) => benchmark.name);
  const rows = [...kept, ...fresh].sort((a, b) => order.indexOf(a.benchmark) - order.indexOf(b.benchmark));
  const lines = [
    `Benchmarks, last updated ${new Date().toISOString()} by a run of ${[...ran].join(", ")}, Node ${process.version}, ${process.platform}/${process.arch}`,
    "",
    "| benchmark | measure | value | unit | baseline | goal |",
    "|---|---|---|---|---|---|",
    ...rows.map(
      (row) =>
        `| ${row.benchmark} | ${row.name} | ${formatValue(row.value)} | ${row.unit} | ${row.baseline ?? ""} | ${row.goal ?? ""} |`,
    ),
  ];
  const report = lines.join("\n");
  console.log(report);
  mkdirSync(directory, { recursive: true });
  writeFileSync(
    join(directory, "latest.json"),
    `${JSON.stringify({ node: process.version, rows }, null, 2)}\n`,
  );
  writeFileSync(join(directory, "latest.md"), `${report}\n`);
}
