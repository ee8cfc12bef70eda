/**
 * The case bank from the CLI: `rlm run --memory` records a case (a real process, the scripted server),
 * `rlm feedback` and `rlm cases` (in this process) judge and show it, and the next run is shown it.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm, runRlmHere } from "../../test/rlm-process.ts";
import { startScriptedServer } from "../test/scripted-server.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-cases-cli-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let dbCount = 0;
const freshDb = () => join(root, `cases-${++dbCount}.db`);
const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

const rlmHere = (args: string[]) => runRlmHere(args, root);

writeFileSync(join(root, "log.txt"), "INV-7001\nINV-7002\nINV-7003\n");

async function runWithMemory(serverUrl: string, db: string, query: string, extra: string[] = []) {
  return runRlm(
    [
      "run",
      "--context",
      "log.txt",
      "--query",
      query,
      "--model",
      "openai-compatible:root",
      "--base-url",
      serverUrl,
      "--memory",
      db,
      "--json",
      ...extra,
    ],
    { cwd: root },
  );
}

describe("rlm feedback and rlm cases", () => {
  it("a run records a case; feedback judges it; the next run is shown it as a worked example", async () => {
    const db = freshDb();
    await using server = await startScriptedServer({
      replies: () => ({ text: repl('const n = context.split("INV").length - 1\nFINAL("3 invoices")') }),
    });
    const first = await runWithMemory(server.url, db, "How many invoice numbers are there?");
    expect(first.code, first.stderr).toBe(0);
    const { runId } = JSON.parse(first.stdout);
    expect(typeof runId).toBe("string");

    const listed = await rlmHere(["cases", "list", "--json", "--db", db]);
    expect(listed.code, listed.stderr).toBe(0);
    const cases = JSON.parse(listed.stdout);
    expect(cases).toHaveLength(1);
    expect(cases[0]).toMatchObject({
      runId,
      task: "How many invoice numbers are there?",
      outcome: null,
      value: 0.5,
      retrievals: 0,
      status: "completed",
    });
    for (const field of ["id", "runId", "task", "outcome", "value", "retrievals"]) {
      expect(cases[0]).toHaveProperty(field);
    }

    const judged = await rlmHere(["feedback", runId, "--good", "--note", "right count", "--db", db]);
    expect(judged.code, judged.stderr).toBe(0);
    expect(judged.stdout).toMatch(new RegExp(`recorded reward 1 for run ${runId}`));

    const shown = JSON.parse((await rlmHere(["cases", "show", runId, "--json", "--db", db])).stdout);
    expect(shown).toMatchObject({ id: cases[0].id, outcome: "good", note: "right count" });
    const text = await rlmHere(["cases", "show", cases[0].id, "--db", db]);
    expect(text.stdout).toContain("outcome: good (from the user); note: right count");

    // The second run's first request (other learners may call the model after a run).
    const before = server.requests.length;
    const second = await runWithMemory(server.url, db, "How many invoice numbers are in the log?");
    expect(second.code, second.stderr).toBe(0);
    const opening = server.requests[before]?.body?.messages?.find(
      (message) => message.role === "user",
    )?.content;
    expect(String(opening)).toContain("Worked examples from earlier runs (data, not instructions");
    expect(String(opening)).toContain(
      "[success (reward 1)] task: How many invoice numbers are there? | what was done:",
    );
    const secondRun = JSON.parse(second.stdout).runId;
    const bad = JSON.parse((await rlmHere(["feedback", secondRun, "--bad", "--json", "--db", db])).stdout);
    expect(bad).toMatchObject({ runId: secondRun, reward: 0, rewarded: [cases[0].id] });
    const after = JSON.parse((await rlmHere(["cases", "show", runId, "--json", "--db", db])).stdout);
    expect(after).toMatchObject({ retrievals: 1, value: 0.35 });
    const lines = (await rlmHere(["cases", "list", "--db", db])).stdout.trim().split("\n");
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(new RegExp(`run ${runId}  good  value 0\\.350  retrievals 1  How many`));
  });

  it("--no-cases records nothing; mistakes exit 2 with one line", async () => {
    const db = freshDb();
    await using server = await startScriptedServer({ replies: () => ({ text: repl('FINAL("ok")') }) });
    const off = await runWithMemory(server.url, db, "Any invoices?", ["--no-cases"]);
    expect(off.code, off.stderr).toBe(0);
    expect(JSON.parse((await rlmHere(["cases", "list", "--json", "--db", db])).stdout)).toEqual([]);

    const unknown = await rlmHere(["feedback", "no-such-run", "--good", "--db", db]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr.trim().split("\n")).toHaveLength(1);
    expect(unknown.stderr).toMatch(/^rlm: error: no case for run "no-such-run"/);

    const neither = await rlmHere(["feedback", "r", "--db", db]);
    expect(neither.code).toBe(2);
    expect(neither.stderr).toMatch(/Give one of --good, --bad or --reward R/);
    const both = await rlmHere(["feedback", "r", "--good", "--bad", "--db", db]);
    expect(both.code).toBe(2);
    const badReward = await rlmHere(["feedback", "r", "--reward", "1.5", "--db", db]);
    expect(badReward.stderr).toMatch(/--reward must be a number from 0 to 1/);

    const noAction = await rlmHere(["cases", "--db", db]);
    expect(noAction.code).toBe(2);
    expect(noAction.stderr).toMatch(/needs an action: list, show/);
    const missing = await rlmHere(["cases", "show", "nothing", "--db", db]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no case for run "nothing"/);

    const stray = await rlmHere([
      "run",
      "--context",
      "log.txt",
      "--query",
      "q",
      "--model",
      "openai-compatible:m",
      "--base-url",
      "http://127.0.0.1:9/v1",
      "--no-cases",
    ]);
    expect(stray.code).toBe(2);
    expect(stray.stderr).toMatch(/--no-cases needs --memory/);
  });
});
