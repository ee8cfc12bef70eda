/** The implementation of `rlm cases`, loaded only when the command runs (see ./cases-command.ts). */
import { UsageError } from "../../errors/usage-error.ts";
import { type CaseView, createCaseBank } from "../../learning/case-bank.ts";
import { defaultMemoryLocation, openMemoryStore } from "../../memory/open-memory-store.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import { parseOptions, positiveInteger } from "../parse-options.ts";

const OPTIONS = {
  db: { type: "string" },
  json: { type: "boolean" },
  limit: { type: "string" },
  scope: { type: "string" },
} as const;

const ACTIONS = ["list", "show"];

function usage(message: string): UsageError {
  return new UsageError({ message: `${message} Run \`rlm cases --help\`.` });
}

function oneLine(text: string, max = 80): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

function outcomeText(outcome: CaseView["outcome"]): string {
  return outcome === null ? "unknown" : String(outcome);
}

function caseLine(view: CaseView): string {
  return `${view.id}  run ${view.runId}  ${outcomeText(view.outcome)}  value ${view.value.toFixed(3)}  retrievals ${view.retrievals}  ${oneLine(view.task)}`;
}

function caseText(view: CaseView): string {
  return [
    `case ${view.id} (run ${view.runId}, ${view.createdAt.slice(0, 19)}Z, scope ${view.scope})`,
    `task: ${view.task}`,
    `status: ${view.status}; cost: ${view.costUsd === null ? "unknown" : `$${view.costUsd.toFixed(4)}`}`,
    `outcome: ${outcomeText(view.outcome)}${view.outcomeSource ? ` (from the ${view.outcomeSource})` : ""}${view.note ? `; note: ${view.note}` : ""}`,
    `value: ${view.value.toFixed(3)}; retrievals: ${view.retrievals}`,
    `shown to this run: ${view.shown.length === 0 ? "none" : view.shown.join(", ")}`,
    `what was done: ${view.summary}`,
    `answer: ${view.answer}`,
  ].join("\n");
}

/** Runs `rlm cases` and resolves to its exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions("cases", args, OPTIONS, true);
  const [action, ...rest] = positionals;
  if (action === undefined || !ACTIONS.includes(action)) {
    throw usage(`rlm cases needs an action: ${ACTIONS.join(", ")}.`);
  }
  if (action === "show" && rest.length !== 1)
    throw usage("rlm cases show needs one ID (a case id or a run id).");
  if (action === "list" && rest.length > 0) throw usage("rlm cases list takes no arguments.");
  const limit = positiveInteger("limit", values.limit) ?? 100;
  const store = await openMemoryStore(values.db ?? defaultMemoryLocation(io.env), {
    warn: (line) => writeLine(io.stderr, `warning: ${line}`),
  });
  try {
    const bank = createCaseBank({ store, ...(values.scope ? { scope: values.scope } : {}) });
    if (action === "show") {
      const view = await bank.show(rest[0] as string);
      writeLine(io.stdout, values.json ? JSON.stringify(view) : caseText(view));
      return EXIT.ok;
    }
    const views = await bank.list({ limit, ...(values.scope ? { scope: values.scope } : {}) });
    if (values.json) writeLine(io.stdout, JSON.stringify(views));
    else if (views.length === 0) writeLine(io.stdout, "no cases (runs with --memory record them)");
    else for (const view of views) writeLine(io.stdout, caseLine(view));
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
