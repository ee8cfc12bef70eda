import { UsageError } from "../../errors/usage-error.ts";
import { readJsonlTrace } from "../../trace/jsonl-trace.ts";
import { renderTraceTree } from "../../trace/trace-tree.ts";
import { writeLine } from "../cli-io.ts";
import type { Command } from "../command.ts";
import { EXIT } from "../exit-codes.ts";
import { parseOptions } from "../parse-options.ts";

const HELP = `Usage: rlm trace show <run.jsonl>

Prints a run's trace as a tree: runs, iterations, cells and sub-calls, with tokens, cost and time per node.

Options:
  -h, --help   show this help`;

export const traceCommand: Command = {
  name: "trace",
  summary: "show a run's JSONL trace as a tree",
  help: HELP,
  async run(args, io) {
    const { values, positionals } = parseOptions("trace", args, {}, true);
    if (values.help) {
      writeLine(io.stdout, HELP);
      return EXIT.ok;
    }
    const [action, path, ...extra] = positionals;
    if (action !== "show" || path === undefined || extra.length > 0) {
      throw new UsageError({ message: "Usage: rlm trace show <run.jsonl>. Run `rlm trace --help`." });
    }
    writeLine(io.stdout, renderTraceTree(readJsonlTrace(path)));
    return EXIT.ok;
  },
};
