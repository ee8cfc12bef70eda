import { newQuickJSWASMModule } from "quickjs-emscripten";
import { createIsolatedVmSandbox } from "../src/sandboxes/isolated-vm/isolated-vm-sandbox.ts";
import { type Benchmark, type Measurement, timeIt } from "./harness.ts";

const CONTEXT_MB = 100;

/** About 100 MB of log-like lines with one needle near the end. */
function makeContext(): string {
  const line = "2024-05-01T12:00:00Z INFO service=api request served status=200 latency_ms=12 user=alice\n";
  const lines = Math.floor((CONTEXT_MB * 1e6) / line.length);
  const body = line.repeat(lines);
  const cut = Math.floor(body.length * 0.9);
  return `${body.slice(0, cut)}NEEDLE id=7781234\n${body.slice(cut)}`;
}

const REGEX_CELL =
  "const m = context.match(/NEEDLE id=(\\d+)/)\nconst at = context.indexOf('NEEDLE')\nm[1] + ':' + at";

function nativeSearch(context: string): string {
  const m = context.match(/NEEDLE id=(\d+)/);
  const at = context.indexOf("NEEDLE");
  return `${m?.[1]}:${at}`;
}

async function measureIsolatedVm(context: string): Promise<Measurement[]> {
  const sandbox = createIsolatedVmSandbox();
  await (await sandbox.create()).dispose();
  const newSession = await timeIt(async () => (await sandbox.create()).dispose(), 40, 5);
  const session = await sandbox.create();
  const trivial = await timeIt(() => session.execute("1 + 1"), 200, 20);

  const rssBefore = process.memoryUsage().rss;
  const startIn = performance.now();
  await session.setVariable("context", context);
  const contextIn = performance.now() - startIn;
  const rssAfter = process.memoryUsage().rss;

  const expected = nativeSearch(context);
  const check = await session.execute(REGEX_CELL);
  if (check.output.trim() !== expected)
    throw new Error(`sandbox search gave ${check.output}, native ${expected}`);
  const native = await timeIt(() => nativeSearch(context), 5, 1);
  const inside = await timeIt(() => session.execute(REGEX_CELL), 5, 1);
  session.dispose();

  return [
    { name: "new session", value: newSession, unit: "ms", goal: "< 5 ms" },
    { name: "trivial cell (1 + 1)", value: trivial, unit: "ms", goal: "< 2 ms" },
    { name: `${CONTEXT_MB} MB context into the REPL`, value: contextIn, unit: "ms", goal: "<= 300 ms" },
    { name: "regex + indexOf over the context, plain Node", value: native, unit: "ms" },
    { name: "regex + indexOf over the context, in the REPL", value: inside, unit: "ms" },
    {
      name: "regex + indexOf, REPL / plain Node",
      value: inside / native,
      unit: "x",
      baseline: "plain Node, same string, same run",
      goal: "<= 2x",
    },
    {
      name: "host memory added by the context (RSS delta / context size)",
      value: (rssAfter - rssBefore) / context.length,
      unit: "x",
      goal: "<= 3x (with the host's own copy: +1x)",
    },
  ];
}

/** QuickJS (WASM) on the same work, for the record of why isolated-vm is the default. */
async function measureQuickJs(context: string): Promise<Measurement[]> {
  const QuickJS = await newQuickJSWASMModule();
  const newContext = await timeIt(() => QuickJS.newContext().dispose(), 40, 5);
  const runtime = QuickJS.newRuntime();
  runtime.setMemoryLimit(1024 * 1024 * 1024);
  const vm = runtime.newContext();
  const startIn = performance.now();
  const handle = vm.newString(context);
  vm.setProp(vm.global, "context", handle);
  handle.dispose();
  const contextIn = performance.now() - startIn;
  const startSearch = performance.now();
  const result = vm.evalCode(REGEX_CELL.replace(/\n/g, ";"));
  const search = performance.now() - startSearch;
  const value = vm.unwrapResult(result);
  const found = vm.getString(value);
  value.dispose();
  if (found !== nativeSearch(context)) throw new Error(`QuickJS search gave ${found}`);
  vm.dispose();
  runtime.dispose();
  return [
    { name: "QuickJS: new context", value: newContext, unit: "ms" },
    { name: `QuickJS: ${CONTEXT_MB} MB context in`, value: contextIn, unit: "ms" },
    { name: "QuickJS: regex + indexOf over the context", value: search, unit: "ms" },
  ];
}

export const sandboxBenchmark: Benchmark = {
  name: "sandbox",
  async run() {
    const context = makeContext();
    const isolated = await measureIsolatedVm(context);
    const quickjs = await measureQuickJs(context);
    return [...isolated, ...quickjs];
  },
};
