/** `rlm run --verify`, `--max-errors` and summary compaction, end to end against the scripted server. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm } from "../../test/rlm-process.ts";
import { type RecordedRequest, startScriptedServer } from "../test/scripted-server.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-verify-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
writeFileSync(join(root, "orders.txt"), "order 1 shipped\norder 2 shipped\norder 3 lost\norder 4 shipped\n");

function lastUser(request: RecordedRequest): string {
  const messages = request.body?.messages ?? [];
  return String(messages.filter((message) => message.role === "user").at(-1)?.content ?? "");
}

function run(url: string, extra: string[]) {
  return runRlm(
    [
      "run",
      "--context",
      "orders.txt",
      "--query",
      "How many orders shipped?",
      "--model",
      "openai-compatible:root",
      "--base-url",
      url,
      "--json",
      ...extra,
    ],
    { cwd: root },
  );
}

describe("rlm run --verify", () => {
  it("confirms an answer that holds, with the evidence its code printed, and reports the turn's cost apart", async () => {
    await using server = await startScriptedServer({
      replies: (request) =>
        lastUser(request).startsWith("Before your answer is accepted")
          ? {
              text: repl(
                'const lines = grep("shipped"); print("supporting lines:", lines.length); FINAL("3")',
              ),
            }
          : { text: repl('FINAL("3")') },
    });
    const trace = join(root, "verify.jsonl");
    const result = await run(server.url, ["--verify", "--trace", trace]);
    expect(result.code, result.stderr).toBe(0);
    const printed = JSON.parse(result.stdout);
    expect(printed.answer).toBe("3");
    expect(printed.verification).toMatchObject({ status: "confirmed", usage: { calls: 1 } });
    expect(printed.verification.evidence).toContain("supporting lines: 3");
    expect(printed.verification.usage.inputTokens).toBeGreaterThan(0);
    expect(printed.iterations).toBe(2);
    const shown = await runRlm(["trace", "show", trace], { cwd: root });
    expect(shown.stdout).toMatch(/verification: confirmed/);
  });

  it("takes the corrected answer when the check finds a mistake", async () => {
    await using server = await startScriptedServer({
      replies: (request) =>
        lastUser(request).startsWith("Before your answer is accepted")
          ? { text: `I recounted: 3 shipped, not 4.\n${repl('FINAL("3")')}` }
          : { text: repl('FINAL("4")') },
    });
    const printed = JSON.parse((await run(server.url, ["--verify"])).stdout);
    expect(printed.answer).toBe("3");
    expect(printed.verification.status).toBe("corrected");
    expect(printed.verification.evidence).toContain("I recounted");
  });

  it("leaves the answer unverified when the check never answers", async () => {
    await using server = await startScriptedServer({
      replies: (request) =>
        (request.body?.messages ?? []).some((message) =>
          String(message.content).startsWith("Before your answer is accepted"),
        )
          ? { text: repl('print("still looking")') }
          : { text: repl('FINAL("3")') },
    });
    const printed = JSON.parse((await run(server.url, ["--verify"])).stdout);
    expect(printed).toMatchObject({
      answer: "3",
      status: "completed",
      verification: { status: "unverified" },
    });
    expect(printed.iterations).toBe(4);
  });
});

describe("rlm run --max-errors", () => {
  it("stops after N cells in a row that raise, keeping the last error", async () => {
    await using server = await startScriptedServer({
      replies: () => ({ text: `Trying again.\n${repl('throw new Error("parse failed at line 7")')}` }),
    });
    const result = await run(server.url, ["--max-errors", "2"]);
    expect(result.code).toBe(1);
    const printed = JSON.parse(result.stdout);
    expect(printed.status).toBe("failed");
    expect(printed.iterations).toBe(2);
    expect(printed.error).toMatch(
      /2 cells in a row raised an error \(the limit is 2\); the last: .*parse failed at line 7/,
    );
    expect(printed.partialAnswer).toBe("Trying again.");
    const bad = await run(server.url, ["--max-errors", "0"]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--max-errors must be/);
  });
});

describe("summary compaction", () => {
  it("restarts the conversation from the model's summary and keeps the past in compaction_history", async () => {
    await using server = await startScriptedServer({
      replies: (request) => {
        const asked = lastUser(request);
        if (asked.startsWith("This conversation is about to be shortened")) {
          return { text: "SUMMARY: orders 1, 2 and 4 shipped; order 3 was lost." };
        }
        if (asked.includes("was shortened")) {
          return { text: repl('print("past messages:", compaction_history.length)') };
        }
        if (asked.includes("past messages:")) return { text: repl('FINAL("3")') };
        return { text: repl(`print("${"x".repeat(1500)}")`) };
      },
    });
    const result = await run(server.url, ["--context-window", "3000"]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout).answer).toBe("3");
    const afterSummary = server.requests.find((request) => lastUser(request).includes("was shortened"));
    const messages = afterSummary?.body?.messages ?? [];
    expect(messages.map((message) => message.role)).toEqual(["system", "user", "assistant", "user"]);
    expect(String(messages[2]?.content)).toContain("SUMMARY: orders 1, 2 and 4 shipped");
    expect(JSON.stringify(messages)).not.toContain("x".repeat(1500));
    const final = server.requests.at(-1);
    expect(lastUser(final as RecordedRequest)).toMatch(/past messages: [1-9]/);
  });
});
