/** The implementation of `rlm trace`, loaded only when the command runs (see ./trace-command.ts). */
import { basename, resolve } from "node:path";
import { writeAtomically } from "../../bench/bench-results.ts";
import { loadContext } from "../../context/load-context.ts";
import { UsageError } from "../../errors/usage-error.ts";
import { resolveSandbox } from "../../sandboxes/resolve-sandbox.ts";
import { readJsonlRecords } from "../../trace/jsonl-trace.ts";
import { convertOfficialLog, isOfficialLog } from "../../trace/official-trace.ts";
import { formatReplayReport, replayOfficialLog } from "../../trace/replay.ts";
import { renderTraceTree } from "../../trace/trace-tree.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import { nonNegativeInteger, parseOptions } from "../parse-options.ts";

function readOfficial(path: string, io: CliIo) {
  const records = readJsonlRecords(path, (message) => writeLine(io.stderr, `warning: ${message}`));
  if (!isOfficialLog(records)) {
    throw new UsageError({
      message: `${path} is not a log of the official RLM format (records of type metadata and iteration).`,
    });
  }
  return records;
}

/** The page's file for a trace: `run.jsonl` -> `run.html`. */
function htmlPathFor(path: string): string {
  return /\.(jsonl|json|log|ndjson)$/i.test(path) ? path.replace(/\.[^./\\]+$/, ".html") : `${path}.html`;
}

/** `rlm trace html`: the viewer as one self-contained file, written whole or not at all. */
async function writeHtml(path: string, out: string | undefined, io: CliIo): Promise<number> {
  const { readTraceForViewer } = await import("../../trace/viewer/read-trace.ts");
  const { buildTraceModel } = await import("../../trace/viewer/trace-model.ts");
  const { renderViewerPage } = await import("../../trace/viewer/viewer-page.ts");
  const events = readTraceForViewer(path, (message) => writeLine(io.stderr, `warning: ${message}`));
  const target = out ?? htmlPathFor(path);
  if (resolve(target) === resolve(path)) {
    throw new UsageError({ message: `The page would overwrite the trace ${path}; give another -o FILE.` });
  }
  // Rendered before the write, so a page that cannot be built is not reported as a folder that cannot be written.
  const page = renderViewerPage(buildTraceModel(events, basename(path)));
  try {
    // Only the owner may read it (a page holds prompts and data), and a missing folder is a typo to report.
    writeAtomically(target, page, { createFolders: false, mode: 0o600 });
  } catch (error) {
    throw new UsageError({
      message: `Cannot write ${target}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}. Give -o a path in a writable folder.`,
    });
  }
  writeLine(io.stderr, `wrote ${target}`);
  return EXIT.ok;
}

/** `rlm trace view`: serves the page on 127.0.0.1, following the trace as it grows, until Ctrl-C. */
async function serveViewer(path: string, portText: string | undefined, io: CliIo): Promise<number> {
  const port = portText === undefined ? 0 : nonNegativeInteger("port", portText);
  if (port > 65_535) throw new UsageError({ message: `--port must be at most 65535, got ${port}.` });
  const { startTraceViewer } = await import("../../trace/viewer/viewer-server.ts");
  const viewer = await startTraceViewer({
    path,
    port,
    onWarning: (message) => writeLine(io.stderr, `warning: ${message}`),
  });
  writeLine(io.stdout, `Serving ${path} at ${viewer.url} (Ctrl-C stops it)`);
  await new Promise<void>((done) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      done();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await viewer.close();
  return EXIT.ok;
}

/** Runs `rlm trace` and resolves to its exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(
    "trace",
    args,
    {
      out: { type: "string", short: "o" },
      port: { type: "string" },
      context: { type: "string", multiple: true },
      sandbox: { type: "string" },
    },
    true,
  );
  const [action, path, ...extra] = positionals;
  if (
    action === undefined ||
    path === undefined ||
    extra.length > 0 ||
    !["show", "import", "replay", "html", "view"].includes(action)
  ) {
    throw new UsageError({
      message: "Usage: rlm trace show|html|view|import|replay <file.jsonl>. Run `rlm trace --help`.",
    });
  }
  if (action === "html") return writeHtml(path, values.out, io);
  if (action === "view") return serveViewer(path, values.port, io);
  if (action === "show") {
    // The same checks as the viewer's: a regular file (a FIFO would hang, /dev/zero fill the memory), under the
    // size cap, events of the right shape (the others left out with a warning).
    const { readTraceForViewer } = await import("../../trace/viewer/read-trace.ts");
    const warn = (message: string) => writeLine(io.stderr, `warning: ${message}`);
    writeLine(io.stdout, renderTraceTree(readTraceForViewer(path, warn), warn));
    return EXIT.ok;
  }
  if (action === "import") {
    const warn = (message: string) => writeLine(io.stderr, `warning: ${message}`);
    const text = `${convertOfficialLog(readOfficial(path, io), warn)
      .map((event) => JSON.stringify(event))
      .join("\n")}\n`;
    if (values.out === undefined) io.stdout.write(text);
    else {
      writeAtomically(values.out, text);
      writeLine(io.stderr, `wrote ${values.out}`);
    }
    return EXIT.ok;
  }
  const records = readOfficial(path, io);
  if (values.context === undefined)
    throw new UsageError({ message: "rlm trace replay needs the run's input: --context <file|dir|glob>." });
  const context = await loadContext(values.context);
  const report = await replayOfficialLog(records, {
    context,
    sandbox: resolveSandbox(values.sandbox ?? "python"),
  });
  writeLine(io.stdout, formatReplayReport(report));
  return report.differing === 0 && report.finalAnswer?.same !== false ? EXIT.ok : EXIT.failed;
}
