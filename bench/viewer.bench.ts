import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { buildTraceModel } from "../src/trace/viewer/trace-model.ts";
import { renderViewerPage } from "../src/trace/viewer/viewer-page.ts";
import { findChromium } from "../test/chromium.ts";
import { largeTrace } from "../test/trace-samples.ts";
import { type Benchmark, type Measurement, timeIt } from "./harness.ts";

const SUBCALLS = 10_000;

/**
 * The trace viewer on a trace of 10,000 sub-calls: building the page's model (what `rlm trace html` and each live
 * update do), the page's size, and in headless Chromium (when installed) the first render, opening an iteration
 * of 2,500 sub-calls, and a search over every node.
 */
export const viewerBenchmark: Benchmark = {
  name: "viewer",
  async run() {
    const events = largeTrace(SUBCALLS);
    const build = await timeIt(() => buildTraceModel(events, "bench"), 7, 2);
    const page = renderViewerPage(buildTraceModel(events, "bench"));
    const rows: Measurement[] = [
      {
        name: `model of a ${SUBCALLS.toLocaleString("en-US")}-sub-call trace (median of 7)`,
        value: build,
        unit: "ms",
      },
      {
        name: `page size, ${SUBCALLS.toLocaleString("en-US")} sub-calls`,
        value: page.length / 1024 / 1024,
        unit: "MiB",
      },
    ];
    const executablePath = findChromium();
    if (executablePath === undefined) {
      process.stderr.write("viewer: no Chromium found; the browser figures are skipped\n");
      return rows;
    }
    const directory = mkdtempSync(join(tmpdir(), "rlmkit-viewer-bench-"));
    const { chromium } = await import("playwright-core");
    const browser = await chromium.launch({ executablePath });
    try {
      const file = join(directory, "big.html");
      writeFileSync(file, page);
      const renders: number[] = [];
      let last: Awaited<ReturnType<typeof browser.newPage>> | undefined;
      for (let index = 0; index < 3; index++) {
        await last?.close();
        last = await browser.newPage({ viewport: { width: 1400, height: 1000 } });
        await last.goto(pathToFileURL(file).href);
        await last.waitForFunction("'__traceViewer' in window");
        renders.push(Number(await last.evaluate("window.__traceViewer.ready")));
      }
      renders.sort((a, b) => a - b);
      const view = last as NonNullable<typeof last>;
      // Page-side code as text: the bench is type-checked without the DOM's types.
      const expand = Number(
        await view.evaluate(`(() => {
          const row = [...document.querySelectorAll(".row")].find((element) =>
            element.querySelector(".label").textContent.startsWith("iteration 1"));
          const started = performance.now();
          row.querySelector(".toggle").click();
          void document.body.offsetHeight;
          return performance.now() - started;
        })()`),
      );
      const search = Number(
        await view.evaluate(`(() => {
          const input = document.getElementById("search");
          input.value = "scripted failure";
          const started = performance.now();
          input.dispatchEvent(new KeyboardEvent("keydown", { key: "Enter" }));
          void document.body.offsetHeight;
          return performance.now() - started;
        })()`),
      );
      rows.push(
        {
          name: `first render in Chromium, from navigation (file://, ${SUBCALLS.toLocaleString("en-US")} sub-calls, median of 3)`,
          value: renders[1] ?? Number.NaN,
          unit: "ms",
          goal: "bounded (under a second)",
        },
        { name: "open an iteration of 2,500 sub-calls (100 rows built)", value: expand, unit: "ms" },
        {
          name: "search every node and reveal the match (first search builds the index)",
          value: search,
          unit: "ms",
        },
      );
    } finally {
      await browser.close();
      rmSync(directory, { recursive: true, force: true });
    }
    return rows;
  },
};
