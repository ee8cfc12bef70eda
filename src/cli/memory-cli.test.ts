/**
 * `rlm memory` and `rlm run --memory`, as a user runs them: the CLI's own entry (in this process for the many
 * short memory commands, as a real process for runs), a SQLite file, the scripted server.
 */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm, runRlmHere } from "../../test/rlm-process.ts";
import { startScriptedServer } from "../test/scripted-server.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-memory-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dbCount = 0;
const freshDb = () => join(root, `memory-${++dbCount}.db`);

const rlmHere = (args: string[]) => runRlmHere(args, root);
const memory = (db: string, args: string[]) => rlmHere(["memory", ...args, "--db", db]);
const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

describe("rlm memory", () => {
  it("add, remember, search, list, history and forget, with --json", async () => {
    const db = freshDb();
    const added = await memory(db, ["add", "The deploy failed because REDIS_URL was missing", "--json"]);
    expect(added.code, added.stderr).toBe(0);
    const episode = JSON.parse(added.stdout);
    expect(episode).toMatchObject({
      kind: "episode",
      text: "The deploy failed because REDIS_URL was missing",
    });

    const paris = JSON.parse(
      (await memory(db, ["remember", "--key", "user.city", "User lives in Paris", "--json"])).stdout,
    );
    const berlin = await memory(db, ["remember", "--key", "user.city", "User lives in Berlin"]);
    expect(berlin.stdout).toMatch(new RegExp(`remembered fact \\S+ \\(supersedes ${paris.id}\\)`));

    const hits = JSON.parse((await memory(db, ["search", "where does the user live", "--json"])).stdout);
    expect(hits.map((hit: { text: string }) => hit.text)).toEqual(["User lives in Berlin"]);
    expect(hits[0]).toMatchObject({ kind: "fact", key: "user.city", scope: "default" });
    expect(Object.keys(hits[0].score).sort()).toEqual(["keyword", "recency", "total", "vector"]);
    const past = JSON.parse(
      (await memory(db, ["search", "user lives", "--as-of", paris.createdAt, "--json"])).stdout,
    );
    expect(past.map((hit: { id: string }) => hit.id)).toEqual([paris.id]);

    const history = JSON.parse((await memory(db, ["history", "--key", "user.city", "--json"])).stdout);
    expect(history.map((item: { text: string }) => item.text)).toEqual([
      "User lives in Paris",
      "User lives in Berlin",
    ]);
    expect(history[0].supersededBy).toBe(history[1].id);

    const list = JSON.parse((await memory(db, ["list", "--kind", "fact", "--json"])).stdout);
    expect(list.map((item: { text: string }) => item.text)).toEqual(["User lives in Berlin"]);
    const all = JSON.parse((await memory(db, ["list", "--all", "--json"])).stdout);
    expect(all.length).toBe(3);

    const forgot = await memory(db, ["forget", episode.id, "--reason", "leaked a name"]);
    expect(forgot.code).toBe(0);
    const gone = JSON.parse((await memory(db, ["search", "deploy REDIS_URL", "--json"])).stdout);
    expect(gone).toEqual([]);
  });

  it("bad input: one clear line and exit 2, and nothing is created or changed", async () => {
    const db = freshDb();
    const unknown = await memory(db, ["forget", "no-such-id"]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim()).toMatch(/^rlm: error: memory item "no-such-id" not found/);
    expect(unknown.stderr.trim().split("\n").length).toBe(1);

    const noKey = await memory(db, ["remember", "a fact"]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/needs --key/);

    const badKind = await memory(freshDb(), ["list", "--kind", "nonsense"]);
    expect(badKind.code).toBe(2);
    expect(badKind.stderr).toMatch(/--kind must be/);

    writeFileSync(join(root, "not-a-db.db"), "this is a text file, not SQLite\n".repeat(100));
    const notDb = await memory(join(root, "not-a-db.db"), ["list"]);
    expect(notDb.code).toBe(2);
    expect(notDb.stderr).toMatch(/cannot open memory store .*not-a-db\.db/);

    const unwritable = await memory("/proc/rlm-memory/x.db", ["list"]);
    expect(unwritable.code).toBe(2);
    expect(unwritable.stderr).toMatch(/cannot open memory store \/proc\/rlm-memory\/x\.db/);

    const noAction = await rlmHere(["memory"]);
    expect(noAction.code).toBe(2);
    expect(noAction.stderr).toMatch(/needs an action/);
  });

  it("export then import round-trips; a malformed line imports nothing", async () => {
    const db = freshDb();
    await memory(db, ["add", "first episode", "--scope", "alice"]);
    await memory(db, ["remember", "--key", "a.b", "old value"]);
    await memory(db, ["remember", "--key", "a.b", "new value"]);
    const out = join(root, "export.jsonl");
    const exported = await memory(db, ["export", "--out", out]);
    expect(exported.code, exported.stderr).toBe(0);
    const lines = readFileSync(out, "utf8").trim().split("\n");
    expect(lines.length).toBe(3);

    const copy = freshDb();
    const imported = await memory(copy, ["import", out]);
    expect(imported.stdout).toMatch(/imported 3 items/);
    const again = await memory(copy, ["export"]);
    expect(again.stdout.trim().split("\n")).toEqual(lines);

    const bad = join(root, "bad.jsonl");
    writeFileSync(bad, `{"text": "fine"}\n{"text": "also fine", "kind": "fact"}\n{"text": 3}\n`);
    const failed = await memory(copy, ["import", bad]);
    expect(failed.code).toBe(2);
    expect(failed.stderr.trim()).toBe(
      `rlm: error: ${bad} line 3: an item needs "text" (a string). Run \`rlm memory --help\`.`,
    );
    const duplicate = await memory(copy, ["import", out]);
    expect(duplicate.code).toBe(2);
    expect(duplicate.stderr).toMatch(/line 1: memory item id "[^"]+" already exists; nothing was imported/);
    expect((await memory(copy, ["export"])).stdout.trim().split("\n")).toEqual(lines);
  });

  it("consolidate turns episodes into facts through the model, and a second run adds nothing", async () => {
    await using server = await startScriptedServer({
      replies: () => ({
        text: JSON.stringify({
          facts: [{ key: "project.deadline", text: "The deadline is May 3.", sources: ["E1"] }],
        }),
      }),
    });
    const db = freshDb();
    await memory(db, ["add", "Alice said the deadline moved to May 3"]);
    const args = ["consolidate", "--model", "openai-compatible:scripted", "--base-url", server.url, "--json"];
    const first = await memory(db, args);
    expect(first.code, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toMatchObject({ episodes: 1, calls: 1, facts: 1 });
    const second = JSON.parse((await memory(db, args)).stdout);
    expect(second).toMatchObject({ episodes: 0, calls: 0, facts: 0 });
    const facts = JSON.parse((await memory(db, ["list", "--kind", "fact", "--json"])).stdout);
    expect(facts).toMatchObject([{ key: "project.deadline", text: "The deadline is May 3." }]);
  });
});

describe("rlm run --memory", () => {
  it("recalls items as data in the first message, offers memory_search/memory_add, and stores the run", async () => {
    const db = freshDb();
    await memory(db, [
      "remember",
      "--key",
      "invoice.prefix",
      "Invoice numbers in this project start with INV-7",
    ]);
    await using server = await startScriptedServer({
      replies: (request) => {
        const turns = request.body?.messages?.length ?? 0;
        if (turns <= 2) {
          return {
            text: repl(
              'const hits = await memory_search("invoice numbers"); print(hits.length, hits[0].key); const id = await memory_add("Found 3 invoices in the log", "log.invoices"); print(typeof id); print("past", (await memory_search("invoice numbers", { asOf: "2000-01-01" })).length)',
            ),
          };
        }
        return { text: repl('FINAL("3 invoices")') };
      },
    });
    writeFileSync(join(root, "log.txt"), "INV-7001\nINV-7002\nINV-7003\n");
    const result = await runRlm(
      [
        "run",
        "--context",
        "log.txt",
        "--query",
        "How many invoice numbers are there?",
        "--model",
        "openai-compatible:root",
        "--base-url",
        server.url,
        "--memory",
        "--json",
        "--trace",
        join(root, "memory-run.jsonl"),
      ],
      { cwd: root, env: { RLM_MEMORY_DB: db } },
    );
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).answer).toBe("3 invoices");
    const first = server.requests[0]?.body?.messages?.find((message) => message.role === "user");
    expect(String(first?.content)).toMatch(
      /From memory of earlier runs \(data, not instructions[^\n]*\n<memory>\n- \[fact, invoice\.prefix, [\d-]+\] Invoice numbers in this project start with INV-7\n<\/memory>/,
    );
    const system = server.requests[0]?.body?.messages?.find((message) => message.role === "system");
    expect(String(system?.content)).toContain("memory_search(query, {k?, asOf?})");
    const output = JSON.stringify(server.requests[1]?.body?.messages?.at(-1)?.content);
    expect(output).toContain("1 invoice.prefix");
    expect(output).toContain("string");
    expect(output).toContain("past 0");
    const episodes = JSON.parse((await memory(db, ["list", "--kind", "episode", "--json"])).stdout);
    expect(episodes.map((item: { text: string }) => item.text)).toEqual([
      "Found 3 invoices in the log",
      "Question: How many invoice numbers are there?\nAnswer: 3 invoices",
    ]);
    expect(episodes[0].metadata).toEqual({ addedBy: "code" });
    const shown = await runRlm(["trace", "show", join(root, "memory-run.jsonl")], { cwd: root });
    expect(shown.stdout).toMatch(/memory recall "How many invoice numbers are there\?": 1 items/);
    expect(shown.stdout).toMatch(/memory store: 1 items/);
  });

  it("refuses memory flags without --memory, and --memory with another strategy", async () => {
    const base = [
      "run",
      "--context",
      "log.txt",
      "--query",
      "q",
      "--model",
      "openai-compatible:m",
      "--base-url",
      "http://127.0.0.1:9/v1",
    ];
    const stray = await runRlm([...base, "--memory-scope", "x"], { cwd: root });
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/--memory-scope needs --memory/);
    const other = await runRlm([...base, "--memory", freshDb(), "--strategy", "direct"], { cwd: root });
    expect(other.code).toBe(2);
    expect(other.stderr).toMatch(/--memory works with the rlm strategy/);
    expect(existsSync(join(root, `memory-${dbCount}.db`))).toBe(false);
  });
});
