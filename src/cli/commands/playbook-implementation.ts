/** The implementation of `rlm playbook`, loaded only when the command runs (see ./playbook-command.ts). */
import { readFile } from "node:fs/promises";
import { UsageError } from "../../errors/usage-error.ts";
import { createPlaybook, DEFAULT_PLAYBOOK_BUDGET, type Playbook } from "../../learning/playbook.ts";
import {
  isBulletId,
  MAX_BULLET_CHARS,
  normalizeSection,
  type PlaybookOpRecord,
  type PlaybookState,
} from "../../learning/playbook-operations.ts";
import { defaultMemoryLocation, openMemoryStore } from "../../memory/open-memory-store.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import { nonNegativeInteger, parseOptions } from "../parse-options.ts";

const OPTIONS = {
  db: { type: "string" },
  json: { type: "boolean" },
  scope: { type: "string" },
  section: { type: "string" },
  budget: { type: "string" },
  helpful: { type: "boolean" },
  harmful: { type: "boolean" },
} as const;

const ACTIONS = ["show", "add", "import", "tag", "remove", "history", "rollback"];

type Values = ReturnType<typeof parseOptions<typeof OPTIONS>>["values"];

function usage(message: string): UsageError {
  return new UsageError({ message: `${message} Run \`rlm playbook --help\`.` });
}

function oneLine(text: string, max = 100): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

/** An operation as `history --json` prints it: flat, with its id. */
function operationJson(record: PlaybookState["history"][number] | PlaybookOpRecord): Record<string, unknown> {
  const { op, id, at, ...rest } = record;
  return { id, at, ...op, ...rest };
}

function operationLine(record: PlaybookState["history"][number]): string {
  const { op } = record;
  const detail =
    op.type === "ADD"
      ? `${op.bulletId} [${op.section}] ${oneLine(op.text, 60)}`
      : op.type === "UPDATE"
        ? `${op.bulletId} ${oneLine(op.text, 60)}`
        : op.type === "TAG"
          ? `${op.bulletId} ${op.tag}`
          : op.type === "REMOVE"
            ? op.bulletId
            : op.opId;
  const why = record.reason ? ` (${oneLine(record.reason, 60)})` : "";
  return `${record.id}  ${record.at.slice(0, 19)}Z  ${op.type} ${detail}  by ${record.by}${why}  -> ${record.effect}`;
}

/** `import FILE`: every line checked before anything is stored. */
async function readImport(path: string): Promise<Array<{ text: string; section?: string }>> {
  const text = await readFile(path, "utf8").catch((error: NodeJS.ErrnoException) => {
    throw usage(`import ${path}: cannot read it (${error.code ?? error.message}).`);
  });
  const entries: Array<{ text: string; section?: string }> = [];
  for (const [index, line] of text.split(/\r?\n/).entries()) {
    if (line.trim() === "") continue;
    const where = `import ${path} line ${index + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      throw usage(`${where}: not JSON; nothing was imported.`);
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      throw usage(`${where}: must be an object {"text": ..., "section"?: ...}; nothing was imported.`);
    }
    const { text: bullet, section } = value as Record<string, unknown>;
    if (typeof bullet !== "string" || bullet.trim() === "") {
      throw usage(`${where}: "text" must be a non-empty string; nothing was imported.`);
    }
    if (bullet.trim().length > MAX_BULLET_CHARS) {
      throw usage(`${where}: "text" is longer than ${MAX_BULLET_CHARS} characters; nothing was imported.`);
    }
    if (section !== undefined && normalizeSection(section) === undefined) {
      throw usage(
        `${where}: "section" must be a short lower-case name (letters, digits, _ and -); nothing was imported.`,
      );
    }
    entries.push({ text: bullet, ...(typeof section === "string" ? { section } : {}) });
  }
  if (entries.length === 0) throw usage(`import ${path}: no lines to import.`);
  return entries;
}

function bulletArgument(action: string, rest: string[]): string {
  const [id, ...more] = rest;
  if (id === undefined || more.length > 0) throw usage(`rlm playbook ${action} needs one bullet id.`);
  if (!isBulletId(id)) throw usage(`"${id}" is no bullet id (they look like pb-1a2b3c4d).`);
  return id;
}

/** Runs `rlm playbook` and resolves to its exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions("playbook", args, OPTIONS, true);
  const [action, ...rest] = positionals;
  if (action === undefined || !ACTIONS.includes(action)) {
    throw usage(`rlm playbook needs an action: ${ACTIONS.join(", ")}.`);
  }
  // Flags are checked before the store opens, so a typo never creates a database file.
  const budgetTokens =
    values.budget === undefined ? DEFAULT_PLAYBOOK_BUDGET : nonNegativeInteger("budget", values.budget);
  if (values.budget !== undefined && action !== "show") throw usage("--budget goes with show.");
  if (values.section !== undefined && action !== "add") throw usage("--section goes with add.");
  if ((values.helpful || values.harmful) && action !== "tag")
    throw usage("--helpful and --harmful go with tag.");
  if (action === "add" && rest.length === 0) throw usage("rlm playbook add needs a text.");
  if (action === "add" && values.section !== undefined && normalizeSection(values.section) === undefined) {
    throw usage(
      `--section must be a short lower-case name (letters, digits, _ and -), got "${values.section}".`,
    );
  }
  if (action === "tag" && values.helpful === values.harmful) {
    throw usage("rlm playbook tag needs one of --helpful or --harmful.");
  }
  if (["show", "history"].includes(action) && rest.length > 0) {
    throw usage(`rlm playbook ${action} takes no arguments.`);
  }
  if (["import", "rollback"].includes(action) && rest.length !== 1) {
    throw usage(`rlm playbook ${action} needs one ${action === "import" ? "FILE" : "OP_ID"}.`);
  }
  const bulletId = action === "tag" || action === "remove" ? bulletArgument(action, rest) : undefined;
  const entries = action === "import" ? await readImport(rest[0] as string) : undefined;
  const store = await openMemoryStore(values.db ?? defaultMemoryLocation(io.env), {
    warn: (line) => writeLine(io.stderr, `warning: ${line}`),
  });
  const playbook = createPlaybook({ store, budgetTokens, ...(values.scope ? { scope: values.scope } : {}) });
  try {
    return await act(action, rest, values, playbook, io, { bulletId, entries });
  } finally {
    await store.close();
  }
}

function storedSummary(stored: PlaybookOpRecord[]): string {
  const count = (type: string, by?: string) =>
    stored.filter((record) => record.op.type === type && (by === undefined || record.by === by)).length;
  const parts = [`${count("ADD")} added`, `${count("TAG")} duplicates tagged helpful`];
  const pruned = count("REMOVE", "curator");
  if (pruned > 0) parts.push(`${pruned} pruned`);
  return parts.join(", ");
}

async function act(
  action: string,
  rest: string[],
  values: Values,
  playbook: Playbook,
  io: CliIo,
  parsed: { bulletId: string | undefined; entries: Array<{ text: string; section?: string }> | undefined },
): Promise<number> {
  const print = (json: unknown, text: string) =>
    writeLine(io.stdout, values.json ? JSON.stringify(json) : text);
  const pruneNote = (stored: PlaybookOpRecord[]) => {
    const pruned = stored.filter((record) => record.by === "curator" && record.op.type === "REMOVE");
    return pruned.length > 0 ? ` (${pruned.length} low-ranked bullets pruned)` : "";
  };
  switch (action) {
    case "show": {
      const view = await playbook.view();
      const bullets = view.bullets.map(({ id, text, section, helpful, harmful, inPrompt }) => ({
        id,
        text,
        section,
        helpful,
        harmful,
        inPrompt,
      }));
      const lines = bullets.map(
        (bullet) =>
          `${bullet.inPrompt ? "*" : " "} ${bullet.id}  +${bullet.helpful} -${bullet.harmful}  [${bullet.section}]  ${oneLine(bullet.text)}`,
      );
      const summary = `${bullets.length} bullets, ${bullets.filter((bullet) => bullet.inPrompt).length} in the prompt (${view.renderedTokens} of ${view.budgetTokens} tokens)`;
      print(
        { bullets, renderedTokens: view.renderedTokens, budgetTokens: view.budgetTokens },
        [...lines, summary].join("\n"),
      );
      return EXIT.ok;
    }
    case "add": {
      const { stored } = await playbook.add(rest.join(" "), {
        by: "cli",
        ...(values.section === undefined ? {} : { section: values.section }),
      });
      const [first] = stored;
      if (first?.op.type === "ADD") {
        print(
          { bulletId: first.op.bulletId, operations: stored.map(operationJson) },
          `added ${first.op.bulletId} (operation ${first.id})${pruneNote(stored)}`,
        );
      } else if (first?.op.type === "TAG") {
        print(
          { bulletId: first.op.bulletId, duplicate: true, operations: stored.map(operationJson) },
          `a duplicate of ${first.op.bulletId}: tagged it helpful instead (operation ${first.id})`,
        );
      }
      return EXIT.ok;
    }
    case "import": {
      const entries = parsed.entries ?? [];
      const { stored } = await playbook.apply(
        entries.map((entry) => ({ type: "ADD" as const, ...entry })),
        { by: "cli", strict: true },
      );
      print(
        { lines: entries.length, operations: stored.map(operationJson) },
        `imported ${entries.length} lines: ${storedSummary(stored)}`,
      );
      return EXIT.ok;
    }
    case "tag":
    case "remove": {
      const id = parsed.bulletId as string;
      const { stored } =
        action === "tag"
          ? await playbook.tag(id, values.helpful ? "helpful" : "harmful", { by: "cli" })
          : await playbook.remove(id, { by: "cli" });
      const [first] = stored;
      print(
        { operations: stored.map(operationJson) },
        `${action === "tag" ? `tagged ${id} ${values.helpful ? "helpful" : "harmful"}` : `removed ${id}`} (operation ${first?.id})${pruneNote(stored)}`,
      );
      return EXIT.ok;
    }
    case "history": {
      const history = await playbook.history();
      if (values.json) writeLine(io.stdout, JSON.stringify(history.map(operationJson)));
      else
        writeLine(
          io.stdout,
          history.length === 0 ? "(no operations)" : history.map(operationLine).join("\n"),
        );
      return EXIT.ok;
    }
    case "rollback": {
      const stored = await playbook.rollback(rest[0] as string, { by: "cli" });
      const target = stored.op.type === "ROLLBACK" ? stored.op.opId : "";
      print(operationJson(stored), `rolled back ${target} (operation ${stored.id})`);
      return EXIT.ok;
    }
    default:
      return EXIT.usage;
  }
}
