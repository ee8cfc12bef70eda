/** The implementation of `rlm memory`, loaded only when the command runs (see ./memory-command.ts). */
import { closeSync, createReadStream, openSync, renameSync, rmSync, writeSync } from "node:fs";
import { createInterface } from "node:readline";
import { MemoryError } from "../../errors/memory-error.ts";
import { UsageError } from "../../errors/usage-error.ts";
import { createEmbedder } from "../../memory/embedder.ts";
import { createMemory, type Memory, type MemoryHit } from "../../memory/memory.ts";
import { defaultMemoryLocation, openMemoryStore } from "../../memory/open-memory-store.ts";
import { checkNewItem, isMemoryKind } from "../../memory/stores/item-rules.ts";
import { ModelClient } from "../../models/model-client.ts";
import { formatCost } from "../../models/usage.ts";
import type { MemoryItem, MemoryKind, NewMemoryItem } from "../../spec/memory-store.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import { parseOptions, positiveInteger } from "../parse-options.ts";

const OPTIONS = {
  db: { type: "string" },
  json: { type: "boolean" },
  scope: { type: "string" },
  key: { type: "string" },
  kind: { type: "string" },
  k: { type: "string" },
  "as-of": { type: "string" },
  model: { type: "string" },
  "base-url": { type: "string" },
  "api-key": { type: "string" },
  "embed-model": { type: "string" },
  "batch-size": { type: "string" },
  limit: { type: "string" },
  all: { type: "boolean" },
  reason: { type: "string" },
  out: { type: "string" },
} as const;

const ACTIONS = ["add", "remember", "search", "consolidate", "list", "history", "forget", "export", "import"];

type Values = ReturnType<typeof parseOptions<typeof OPTIONS>>["values"];

function usage(message: string): UsageError {
  return new UsageError({ message: `${message} Run \`rlm memory --help\`.` });
}

function kindOf(value: string | undefined): MemoryKind | undefined {
  if (value === undefined) return undefined;
  if (!isMemoryKind(value))
    throw usage(`--kind must be episode, fact, summary, case or lesson, got "${value}".`);
  return value;
}

function dateOf(value: string | undefined): string | undefined {
  if (value === undefined) return undefined;
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) throw usage(`--as-of must be a date like 2026-05-01, got "${value}".`);
  return date.toISOString();
}

/** An item as the CLI prints it in JSON: everything but the embedding (long, and of no use to read). */
function shown(item: MemoryItem): Omit<MemoryItem, "embedding"> {
  const { embedding: _, ...rest } = item;
  return rest;
}

function oneLine(text: string, max = 100): string {
  const flat = text.replace(/\s+/g, " ").trim();
  return flat.length > max ? `${flat.slice(0, max - 3)}...` : flat;
}

function itemLine(item: MemoryItem): string {
  const state = item.forgottenAt
    ? " (forgotten)"
    : item.validTo
      ? ` (until ${item.validTo.slice(0, 19)}Z)`
      : "";
  const key = item.key ? ` ${item.key}` : "";
  return `${item.id}  ${item.kind}${key}  ${item.validFrom.slice(0, 19)}Z${state}  ${oneLine(item.text)}`;
}

function hitLine({ item, score }: MemoryHit): string {
  const parts = `keyword ${score.keyword.toFixed(2)}, vector ${score.vector.toFixed(2)}, recency ${score.recency.toFixed(2)}`;
  return `${score.total.toFixed(3)} (${parts})  ${itemLine(item)}`;
}

/** Runs `rlm memory` and resolves to its exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions("memory", args, OPTIONS, true);
  const [action, ...rest] = positionals;
  if (action === undefined || !ACTIONS.includes(action)) {
    throw usage(`rlm memory needs an action: ${ACTIONS.join(", ")}.`);
  }
  const warn = (line: string) => writeLine(io.stderr, `warning: ${line}`);
  const location = values.db ?? defaultMemoryLocation(io.env);
  const settings = { env: io.env, baseUrl: values["base-url"], apiKey: values["api-key"] };
  const embedder = values["embed-model"] ? createEmbedder(values["embed-model"], { settings }) : undefined;
  // Flags are checked before the store opens, so a typo never creates a database file.
  const needsText = ["add", "remember", "search"].includes(action);
  if (needsText && rest.length === 0) throw usage(`rlm memory ${action} needs a text.`);
  const store = await openMemoryStore(location, { warn });
  const memory = createMemory({
    store,
    ...(embedder ? { embedder } : {}),
    ...(values.scope ? { scope: values.scope } : {}),
  });
  try {
    return await act(action, rest, values, memory, io);
  } finally {
    await memory.close();
  }
}

async function act(
  action: string,
  rest: string[],
  values: Values,
  memory: Memory,
  io: CliIo,
): Promise<number> {
  const print = (json: unknown, text: string) =>
    writeLine(io.stdout, values.json ? JSON.stringify(json) : text);
  const text = rest.join(" ");
  switch (action) {
    case "add": {
      const item = await memory.add(text, { ...(values.key ? { key: values.key } : {}), source: ["cli"] });
      print(shown(item), `added episode ${item.id}`);
      return EXIT.ok;
    }
    case "remember": {
      if (!values.key)
        throw usage("rlm memory remember needs --key K (what the fact is about, e.g. user.city).");
      const item = await memory.remember(text, { key: values.key, source: ["cli"] });
      const previous = (
        await memory.store.historyByKey(values.key, { scope: item.scope, kind: "fact" })
      ).find((version) => version.supersededBy === item.id);
      const note = item.supersededBy
        ? ` (stored as past: ${item.supersededBy} is newer)`
        : previous
          ? ` (supersedes ${previous.id})`
          : "";
      print(shown(item), `remembered fact ${item.id}${note}`);
      return EXIT.ok;
    }
    case "search": {
      const kind = kindOf(values.kind);
      const asOf = dateOf(values["as-of"]);
      const hits = await memory.retrieve(text, {
        k: positiveInteger("k", values.k) ?? 5,
        ...(kind ? { kinds: [kind] } : {}),
        ...(asOf ? { asOf } : {}),
      });
      if (values.json)
        writeLine(io.stdout, JSON.stringify(hits.map((hit) => ({ ...shown(hit.item), score: hit.score }))));
      else if (hits.length === 0) writeLine(io.stdout, "no matching items");
      else for (const hit of hits) writeLine(io.stdout, hitLine(hit));
      return EXIT.ok;
    }
    case "consolidate": {
      if (!values.model) throw usage("rlm memory consolidate needs --model SPEC.");
      const settings = { env: io.env, baseUrl: values["base-url"], apiKey: values["api-key"] };
      const model = new ModelClient({ model: values.model, settings });
      const report = await memory.consolidate({
        model,
        ...(values.scope ? { scope: values.scope } : {}),
        batchSize: positiveInteger("batch-size", values["batch-size"]) ?? 20,
      });
      for (const error of report.errors) writeLine(io.stderr, `warning: ${error}`);
      print(
        report,
        `consolidated ${report.episodes} episodes in ${report.calls} model calls: ${report.facts} facts (${report.superseded} superseding, ${report.unchanged} unchanged), ${report.summaries} summaries; ${report.usage.inputTokens + report.usage.outputTokens} tokens, cost ${formatCost(report.usage)}`,
      );
      return report.failedBatches > 0 ? EXIT.failed : EXIT.ok;
    }
    case "list": {
      const kind = kindOf(values.kind);
      const items = await memory.store.list({
        ...(kind ? { kind } : {}),
        ...(values.key ? { key: values.key } : {}),
        ...(values.scope ? { scope: values.scope } : {}),
        ...(values.all ? {} : { current: true }),
        limit: positiveInteger("limit", values.limit) ?? 100,
      });
      if (values.json) writeLine(io.stdout, JSON.stringify(items.map(shown)));
      else for (const item of items) writeLine(io.stdout, itemLine(item));
      return EXIT.ok;
    }
    case "history": {
      const [id] = rest;
      if ((id === undefined) === (values.key === undefined))
        throw usage("rlm memory history needs an ID or --key K.");
      const items =
        id !== undefined
          ? await memory.store.history(id)
          : await memory.store.historyByKey(values.key as string, { scope: values.scope ?? memory.scope });
      if (values.json) writeLine(io.stdout, JSON.stringify(items.map(shown)));
      else for (const item of items) writeLine(io.stdout, itemLine(item));
      return EXIT.ok;
    }
    case "forget": {
      const [id] = rest;
      if (id === undefined || rest.length > 1) throw usage("rlm memory forget needs one ID.");
      const item = await memory.forget(id, values.reason);
      print(shown(item), `forgot ${item.id}`);
      return EXIT.ok;
    }
    case "export":
      return exportItems(memory, values.out, io);
    default:
      return importItems(memory, rest, io, values.json === true);
  }
}

/** Every item but forgotten ones, oldest first, a page at a time; into FILE by a temporary file and a rename. */
async function exportItems(memory: Memory, out: string | undefined, io: CliIo): Promise<number> {
  const temporary = out === undefined ? undefined : `${out}.${process.pid}.tmp`;
  let fd: number | undefined;
  try {
    fd = temporary === undefined ? undefined : openSync(temporary, "w");
  } catch (error) {
    throw usage(`--out ${out}: cannot write there (${(error as NodeJS.ErrnoException).code ?? "error"}).`);
  }
  let count = 0;
  try {
    for (let after: string | undefined; ; ) {
      const page = await memory.store.list({ limit: 1000, ...(after === undefined ? {} : { after }) });
      if (page.length === 0) break;
      after = page.at(-1)?.id;
      const lines = page
        .filter((item) => !item.forgottenAt)
        .map((item) => `${JSON.stringify(item)}\n`)
        .join("");
      count += page.filter((item) => !item.forgottenAt).length;
      if (fd === undefined) io.stdout.write(lines);
      else writeSync(fd, lines);
    }
    if (fd !== undefined && temporary !== undefined && out !== undefined) {
      closeSync(fd);
      fd = undefined;
      renameSync(temporary, out);
      writeLine(io.stderr, `exported ${count} items to ${out}`);
    }
    return EXIT.ok;
  } finally {
    if (fd !== undefined) closeSync(fd);
    if (temporary !== undefined) rmSync(temporary, { force: true });
  }
}

/** Reads and checks every line first; then one transaction stores all of them, or (on any error) none. */
async function importItems(memory: Memory, rest: string[], io: CliIo, json: boolean): Promise<number> {
  const [file] = rest;
  if (file === undefined || rest.length > 1) throw usage("rlm memory import needs one FILE (JSONL).");
  const items: NewMemoryItem[] = [];
  const lineOfId = new Map<string, number>();
  const now = new Date().toISOString();
  let lineNumber = 0;
  try {
    const lines = createInterface({
      input: createReadStream(file, { encoding: "utf8" }),
      crlfDelay: Infinity,
    });
    for await (const raw of lines) {
      lineNumber++;
      const line = lineNumber === 1 ? raw.replace(/^\uFEFF/, "") : raw;
      if (line.trim() === "") continue;
      items.push(importedItem(line, file, lineNumber, now));
      const id = items.at(-1)?.id;
      if (id !== undefined) {
        if (lineOfId.has(id))
          throw usage(`${file} line ${lineNumber}: id ${id} also on line ${lineOfId.get(id)}.`);
        lineOfId.set(id, lineNumber);
      }
    }
  } catch (error) {
    if (error instanceof UsageError || error instanceof MemoryError) throw error;
    throw usage(
      `cannot read ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message}).`,
    );
  }
  try {
    await memory.insert(items);
  } catch (error) {
    if (error instanceof MemoryError && error.reason === "conflict") {
      const id = /"([^"]+)"/.exec(error.message)?.[1] ?? "";
      throw new MemoryError({
        message: `${file} line ${lineOfId.get(id) ?? "?"}: ${error.message}; nothing was imported`,
        reason: "conflict",
      });
    }
    throw error;
  }
  if (json) writeLine(io.stdout, JSON.stringify({ imported: items.length }));
  else writeLine(io.stdout, `imported ${items.length} items`);
  return EXIT.ok;
}

function importedItem(line: string, file: string, lineNumber: number, now: string): NewMemoryItem {
  const where = `${file} line ${lineNumber}`;
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    throw usage(`${where}: not a JSON object.`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw usage(`${where}: not a JSON object.`);
  const record = value as Record<string, unknown>;
  if (typeof record.text !== "string") throw usage(`${where}: an item needs "text" (a string).`);
  const item = {
    ...record,
    kind: record.kind ?? "episode",
    source: typeof record.source === "string" ? [record.source] : record.source,
  } as NewMemoryItem;
  try {
    checkNewItem(item, now);
  } catch (error) {
    throw usage(`${where}: ${(error as Error).message}.`);
  }
  return item;
}
