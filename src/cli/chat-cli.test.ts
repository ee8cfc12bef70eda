/** `rlm chat` with questions piped on standard input, against the scripted server. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm, startRlm } from "../../test/rlm-process.ts";
import { type RecordedRequest, startScriptedServer } from "../test/scripted-server.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-chat-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

/** The question of the turn a request belongs to (from its first user message). */
function question(request: RecordedRequest): string | undefined {
  const first = request.body?.messages?.find((message) => message.role === "user");
  return /Question: (.*)/.exec(typeof first?.content === "string" ? first.content : "")?.[1];
}

describe("rlm chat", () => {
  it("answers questions piped one per line over one REPL, and /save writes a readable trace", async () => {
    await using server = await startScriptedServer({
      replies: (request) => {
        const asked = question(request);
        if (asked === "how long is it?")
          return { text: repl("const size = context.length\nFINAL('size ' + size)") };
        if (asked === "and before?")
          return { text: repl("FINAL('again ' + size + ' after ' + history[0].answer + ' / ' + context_1)") };
        return { text: "no script" };
      },
    });
    writeFileSync(join(root, "doc.txt"), "twelve chars");
    writeFileSync(join(root, "more.txt"), "more text");
    const chat = startRlm(
      ["chat", "--context", "doc.txt", "--model", "openai-compatible:root", "--base-url", server.url],
      { cwd: root },
    );
    chat.child.stdin.end("how long is it?\n/context more.txt\nand before?\n/save session.jsonl\n");
    const code = await chat.exited;
    expect(chat.stderr()).toContain("added more.txt as context_1");
    expect(chat.stdout()).toBe("size 12\nagain 12 after size 12 / more text\n");
    expect(code).toBe(0);
    expect(chat.stderr()).toMatch(/completed · 1 iterations/);
    const events = readFileSync(join(root, "session.jsonl"), "utf8").trim().split("\n");
    expect(events.map((line) => JSON.parse(line).type).filter((type) => type === "run-start")).toHaveLength(
      2,
    );
    const shown = await runRlm(["trace", "show", "session.jsonl"], { cwd: root });
    expect(shown.code).toBe(0);
  });

  it("prints JSON lines with --json and exits 1 when a turn does not complete", async () => {
    await using server = await startScriptedServer({
      replies: (request) =>
        question(request) === "fine?" ? { text: repl("FINAL('yes')") } : { text: repl("print('thinking')") },
    });
    writeFileSync(join(root, "doc.txt"), "text");
    const chat = startRlm(
      [
        "chat",
        "--context",
        "doc.txt",
        "--model",
        "openai-compatible:root",
        "--base-url",
        server.url,
        "--max-iterations",
        "1",
        "--json",
      ],
      { cwd: root },
    );
    chat.child.stdin.end("fine?\nstuck?\n");
    expect(await chat.exited).toBe(1);
    const lines = chat
      .stdout()
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(lines.map((line) => line.status)).toEqual(["completed", "max_iterations"]);
    expect(lines[0].answer).toBe("yes");
  });

  it("refuses - as the input (standard input holds the questions)", async () => {
    const result = await runRlm(["chat", "--context", "-", "--model", "openai-compatible:root"], {
      cwd: root,
    });
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(/reads its questions from standard input/);
  });
});
