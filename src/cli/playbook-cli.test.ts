/** `rlm playbook` as a user runs it: the CLI's own entry in this process, a SQLite file. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm, runRlmHere } from "../../test/rlm-process.ts";
import { startScriptedServer } from "../test/scripted-server.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-playbook-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dbCount = 0;
const freshDb = () => join(root, `playbook-${++dbCount}.db`);

const rlmHere = (args: string[]) => runRlmHere(args, root);
const playbook = (db: string, args: string[]) => rlmHere(["playbook", ...args, "--db", db]);

describe("rlm playbook", () => {
  it("add, tag, show --json, remove, history and rollback", async () => {
    const db = freshDb();
    const added = await playbook(db, ["add", "Grep for the key before reading whole files.", "--json"]);
    expect(added.code, added.stderr).toBe(0);
    const a = JSON.parse(added.stdout).bulletId as string;
    expect(a).toMatch(/^pb-[0-9a-f]{8}$/);
    const mistake = await playbook(db, ["add", "Never sum before checking units.", "--section", "mistakes"]);
    expect(mistake.stdout).toMatch(/^added (pb-[0-9a-f]{8}) \(operation \S+\)\n$/);
    const b = /added (pb-[0-9a-f]{8})/.exec(mistake.stdout)?.[1] as string;
    const duplicate = await playbook(db, ["add", "grep for the key before reading whole files"]);
    expect(duplicate.stdout).toContain(`a duplicate of ${a}: tagged it helpful instead`);
    expect((await playbook(db, ["tag", b, "--harmful"])).code).toBe(0);

    const shown = await playbook(db, ["show", "--json"]);
    expect(JSON.parse(shown.stdout)).toEqual({
      bullets: [
        {
          id: a,
          text: "Grep for the key before reading whole files.",
          section: "general",
          helpful: 1,
          harmful: 0,
          inPrompt: true,
        },
        {
          id: b,
          text: "Never sum before checking units.",
          section: "mistakes",
          helpful: 0,
          harmful: 1,
          inPrompt: true,
        },
      ],
      renderedTokens: expect.any(Number),
      budgetTokens: 1500,
    });
    const tight = JSON.parse((await playbook(db, ["show", "--json", "--budget", "10"])).stdout);
    expect(tight.budgetTokens).toBe(10);
    expect(tight.renderedTokens).toBeLessThanOrEqual(10);
    expect((await playbook(db, ["show"])).stdout).toContain(`* ${a}  +1 -0  [general]  Grep for the key`);

    expect((await playbook(db, ["remove", a])).stdout).toMatch(new RegExp(`^removed ${a}`));
    const history = JSON.parse((await playbook(db, ["history", "--json"])).stdout);
    expect(history.map((op: { type: string }) => op.type)).toEqual(["ADD", "ADD", "TAG", "TAG", "REMOVE"]);
    expect(history[4]).toMatchObject({
      id: expect.any(String),
      type: "REMOVE",
      bulletId: a,
      by: "cli",
      effect: "applied",
    });
    const rolled = await playbook(db, ["rollback", history[4].id]);
    expect(rolled.stdout).toContain(`rolled back ${history[4].id}`);
    const back = JSON.parse((await playbook(db, ["show", "--json"])).stdout);
    expect(back.bullets.map((bullet: { id: string }) => bullet.id)).toContain(a);
    expect((await playbook(db, ["history"])).stdout).toContain("ROLLBACK");
  });

  it("imports JSONL all or nothing", async () => {
    const db = freshDb();
    const good = join(root, "good.jsonl");
    writeFileSync(
      good,
      '{"text": "Chunk by document."}\n\n{"text": "Do not guess counts.", "section": "mistakes"}\n{"text": "chunk by document"}\n',
    );
    const imported = await playbook(db, ["import", good]);
    expect(imported.code, imported.stderr).toBe(0);
    expect(imported.stdout).toBe("imported 3 lines: 2 added, 1 duplicates tagged helpful\n");
    const bad = join(root, "bad.jsonl");
    writeFileSync(bad, '{"text": "A fine lesson."}\n{"text": "broken"\n');
    const refused = await playbook(db, ["import", bad]);
    expect(refused.code).toBe(2);
    expect(refused.stderr.trim().split("\n")).toHaveLength(1);
    expect(refused.stderr).toContain("line 2: not JSON; nothing was imported");
    const badSection = join(root, "bad-section.jsonl");
    writeFileSync(badSection, '{"text": "ok", "section": "No Spaces <here>"}\n');
    expect((await playbook(db, ["import", badSection])).code).toBe(2);
    const shown = JSON.parse((await playbook(db, ["show", "--json"])).stdout);
    expect(shown.bullets.map((bullet: { text: string }) => bullet.text).sort()).toEqual([
      "Chunk by document.",
      "Do not guess counts.",
    ]);
  });

  it("refuses bad input with one clear line and exit 2", async () => {
    const db = freshDb();
    const id = JSON.parse((await playbook(db, ["add", "A lesson.", "--json"])).stdout).bulletId;
    for (const [args, message] of [
      [["tag", id, "--helpful", "--harmful"], "one of --helpful or --harmful"],
      [["tag", id], "one of --helpful or --harmful"],
      [["tag", "pb-00000000", "--helpful"], 'no bullet "pb-00000000"'],
      [["remove", "nonsense"], "is no bullet id"],
      [["rollback", "no-such-op"], 'no operation "no-such-op"'],
      [["frob"], "needs an action"],
      [["add", "x", "--section", "Bad Section!"], "--section must be"],
      [["show", "--budget", "-1"], "--budget"],
      [["import", join(root, "missing.jsonl")], "cannot read it"],
    ] as const) {
      const result = await playbook(db, [...args]);
      expect(result.code, `${args.join(" ")}: ${result.stderr}`).toBe(2);
      expect(result.stderr).toContain(message);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
    }
  });

  it("rlm run checks --playbook-budget and --no-playbook before anything runs", async () => {
    const context = join(root, "context.txt");
    writeFileSync(context, "INV-1 INV-2");
    const base = ["run", "--context", context, "--query", "How many?", "--model", "openai:gpt-5-mini"];
    for (const [args, message] of [
      [["--playbook-budget", "100"], "--playbook-budget needs --memory"],
      [["--no-playbook"], "--no-playbook needs --memory"],
      [["--memory", freshDb(), "--playbook-budget", "lots"], "--playbook-budget must be a whole number"],
      [["--memory", freshDb(), "--playbook-budget", "5", "--no-playbook"], "do not go together"],
    ] as const) {
      const result = await rlmHere([...base, ...args]);
      expect(result.code, result.stderr).toBe(2);
      expect(result.stderr).toContain(message);
    }
  });

  it("rlm run --memory learns lessons into the playbook and shows them to the next run", async () => {
    await using server = await startScriptedServer({
      replies: (request) => {
        const system = request.body?.messages?.find((message) => message.role === "system");
        if (String(system?.content).startsWith("You review one finished run")) {
          return {
            text: JSON.stringify({
              lessons: [{ text: "Count matches with a regex over the context.", section: "strategies" }],
              tags: [],
            }),
          };
        }
        return { text: '```repl\nFINAL("2 invoices")\n```' };
      },
    });
    const db = freshDb();
    writeFileSync(join(root, "log.txt"), "INV-1 INV-2");
    const args = [
      "run",
      "--context",
      "log.txt",
      "--query",
      "How many invoices?",
      "--model",
      "openai-compatible:root",
    ];
    const first = await runRlm([...args, "--base-url", server.url, "--memory", db, "--json"], { cwd: root });
    expect(first.code, first.stderr).toBe(0);
    const shown = JSON.parse((await playbook(db, ["show", "--json"])).stdout);
    expect(shown.bullets).toMatchObject([
      { text: "Count matches with a regex over the context.", section: "strategies" },
    ]);
    const before = server.requests.length;
    const second = await runRlm(
      [...args, "--base-url", server.url, "--memory", db, "--playbook-budget", "200"],
      {
        cwd: root,
      },
    );
    expect(second.code, second.stderr).toBe(0);
    const opening = server.requests[before]?.body?.messages?.find((message) => message.role === "user");
    expect(String(opening?.content)).toContain(
      `- [${shown.bullets[0].id}] Count matches with a regex over the context.`,
    );
    const off = server.requests.length;
    const third = await runRlm([...args, "--base-url", server.url, "--memory", db, "--no-playbook"], {
      cwd: root,
    });
    expect(third.code, third.stderr).toBe(0);
    const plain = server.requests[off]?.body?.messages?.find((message) => message.role === "user");
    expect(String(plain?.content)).not.toContain("<playbook>");
    expect(server.requests.length - off).toBe(1);
  }, 60_000);
});
