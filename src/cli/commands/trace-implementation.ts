/** The implementation of `rlm trace`, loaded only when the command runs (see ./trace-command.ts). */
import { writeAtomically } from "../../bench/bench-results.ts";
import { loadContext } from "../../context/load-context.ts";
import { UsageError } from "../../errors/usage-error.ts";
import { resolveSandbox } from "../../sandboxes/resolve-sandbox.ts";
import { readJsonlRecords, readJsonlTrace } from "../../trace/jsonl-trace.ts";
import { convertOfficialLog, isOfficialLog } from "../../trace/official-trace.ts";
import { formatReplayReport, replayOfficialLog } from "../../trace/replay.ts";
import { renderTraceTree } from "../../trace/trace-tree.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import { parseOptions } from "../parse-options.ts";

function readOfficial(path: string, io: CliIo) {
  const records = readJsonlRecords(path, (message) => writeLine(io.stderr, `warning: ${message}`));
  if (!isOfficialLog(records)) {
    throw new UsageError({
      message: `${path} is not a log of the official RLM format (records of type metadata and iteration).`,
    });
  }
  return records;
}

/** Runs `rlm trace` and resolves to its exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions(
    "trace",
    args,
    { out: { type: "string" }, context: { type: "string", multiple: true }, sandbox: { type: "string" } },
    true,
  );
  const [action, path, ...extra] = positionals;
  if (
    action === undefined ||
    path === undefined ||
    extra.length > 0 ||
    !["show", "import", "replay"].includes(action)
  ) {
    throw new UsageError({
      message: "Usage: rlm trace show|import|replay <file.jsonl>. Run `rlm trace --help`.",
    });
  }
  if (action === "show") {
    const events = readJsonlTrace(path, (message) => writeLine(io.stderr, `warning: ${message}`));
    writeLine(io.stdout, renderTraceTree(events));
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
