import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm } from "../../test/rlm-process.ts";
import { type RecordedRequest, startScriptedServer } from "../test/scripted-server.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-privacy-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const rlm = (args: string[], env: Record<string, string> = {}) => runRlm(args, { cwd: root, env });
const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

/** Every line holds a value the redaction filter must catch; the words around it are not secret. */
const SECRETS = [
  "alice.smith@example.com",
  "+44 20 7946 0958",
  "4539 1488 0343 6467",
  "sk-live0123456789abcdefghijklmnop",
  "203.0.113.42",
  "DE89 3704 0044 0532 0130 00",
  "ghp_1234567890abcdefghijABCDEFGHIJ123456",
  "(555) 123-4567",
  "2001:db8:85a3::8a2e:370:7334",
  "EMP-778899",
];
const LINES = [
  `customer 1 wrote from ${SECRETS[0]} about a refund`,
  `customer 2 asked to be called on ${SECRETS[1]} after six`,
  `customer 3 paid with card ${SECRETS[2]} in March`,
  `customer 4 pasted the key ${SECRETS[3]} into the form`,
  `customer 5 logged in from ${SECRETS[4]} twice`,
  `customer 6 wants the money sent to ${SECRETS[5]} soon`,
  `customer 7 shared a token ${SECRETS[6]} by mistake`,
  `customer 8 left a voicemail: call back on ${SECRETS[7]} please`,
  `customer 9 connected from ${SECRETS[8]} overnight`,
  `customer 10 is employee ${SECRETS[9]} in the sales team`,
];

function texts(requests: RecordedRequest[]): string[] {
  return requests
    .filter((request) => request.path.endsWith("/chat/completions"))
    .flatMap((request) =>
      (request.body?.messages ?? []).map((message) =>
        typeof message.content === "string" ? message.content : JSON.stringify(message.content),
      ),
    );
}

describe("rlm run --privacy local", () => {
  it("sends raw lines only to the local sub-model, redacts all a hosted root sees, and audits each request", async () => {
    await using local = await startScriptedServer({
      // The local sub-model answers with the raw line it was given: its answer, printed, must be redacted too.
      replies: (request) => {
        const prompt = texts([request]).at(-1) ?? "";
        return {
          text: `noted: ${prompt
            .split("\n")
            .at(-1)
            ?.replace(/^Summarise: /, "")}`,
        };
      },
    });
    await using hosted = await startScriptedServer({
      replies: (request) => {
        const turn = (request.body?.messages ?? []).filter((message) => message.role === "assistant").length;
        if (turn === 0)
          return {
            text: repl(
              [
                "const lines = context.split('\\n').filter(Boolean)",
                "print(lines.join('\\n'))",
                "const notes = llm_query_batched(lines.map((line) => 'Summarise: ' + line))",
                "print(notes.join('\\n'))",
              ].join("\n"),
            ),
          };
        return { text: repl("FINAL('checked ' + lines.length + ' customers')") };
      },
    });
    writeFileSync(join(root, "customers.txt"), `${LINES.join("\n")}\n`);
    writeFileSync(join(root, "audit.jsonl"), '{"earlier":"entry"}\n');
    const result = await rlm([
      "run",
      "--context",
      "customers.txt",
      "--query",
      `Summarise the customers; is ${SECRETS[0]} among them?`,
      "--model",
      "openai-compatible:root",
      "--base-url",
      hosted.url,
      "--sub-model",
      "openai-compatible:local-llm",
      "--sub-base-url",
      local.url,
      "--privacy",
      "local",
      "--local-model",
      "openai-compatible:local-llm",
      "--redact",
      "EMP-\\d{6}",
      "--audit",
      "audit.jsonl",
      "--trace",
      "run.jsonl",
      "--json",
    ]);
    expect(result.stderr).toBe("");
    expect(result.code).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ answer: "checked 10 customers", status: "completed" });

    // The hosted root: two requests, none holding a raw line or value, with placeholders instead.
    const sent = texts(hosted.requests);
    expect(hosted.requests.filter((request) => request.path.endsWith("/chat/completions"))).toHaveLength(2);
    const everything = sent.join("\n");
    for (const line of LINES) expect(everything).not.toContain(line);
    for (const secret of SECRETS) expect(everything).not.toContain(secret);
    // Not even the digits of a number written another way.
    for (const digits of ["4420794609", "4539148803436467", "5551234567", "778899"])
      expect(everything.replace(/\D/g, "")).not.toContain(digits);
    expect(everything).toContain("withheld: privacy mode");
    expect(everything).toContain("customer 1 wrote from [EMAIL_1] about a refund");
    expect(everything).toContain("Summarise the customers; is [EMAIL_1] among them?");
    expect(everything).toContain("customer 3 paid with card [CARD_1] in March");
    expect(everything).toContain("customer 10 is employee [CUSTOM_1] in the sales team");
    // The local model's answers, printed by the code, are redacted with the same placeholders.
    expect(everything).toContain("noted: customer 5 logged in from [IP_1] twice");

    // The local sub-model got the raw lines.
    const localTexts = texts(local.requests).join("\n");
    for (const line of LINES) expect(localTexts).toContain(line);

    // The audit: the earlier line kept, then one entry per hosted request, with counts and no values.
    const auditText = readFileSync(join(root, "audit.jsonl"), "utf8");
    for (const secret of SECRETS) expect(auditText).not.toContain(secret);
    const audit = auditText
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    expect(audit[0]).toEqual({ earlier: "entry" });
    const entries = audit.slice(1);
    expect(entries).toHaveLength(2);
    for (const entry of entries) {
      expect(Object.keys(entry).sort()).toEqual(["at", "chars", "depth", "model", "redactions", "runId"]);
      expect(entry.model).toBe("openai-compatible:root");
      expect(entry.depth).toBe(0);
      expect(new Date(entry.at).getTime()).toBeGreaterThan(0);
    }
    expect(entries[0].redactions).toEqual({ email: 1 });
    // Second request: the question again, ten lines printed, ten local answers printed (each value twice).
    expect(entries[1].redactions).toEqual({
      email: 3,
      phone: 4,
      card: 2,
      key: 4,
      ip: 4,
      account: 2,
      custom: 2,
    });
    // Characters: what the second request carried (system prompt and messages), after redaction.
    const second = hosted.requests.filter((request) => request.path.endsWith("/chat/completions"))[1];
    expect(entries[1].chars).toBe(texts(second ? [second] : []).join("").length);

    // The trace has the same entries as privacy-audit events.
    const trace = readFileSync(join(root, "run.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line));
    const events = trace.filter((event) => event.type === "privacy-audit");
    expect(events.map((event) => event.redactions)).toEqual(entries.map((entry) => entry.redactions));
    const shown = await rlm(["trace", "show", "run.jsonl"]);
    expect(shown.code).toBe(0);
  });

  it("lets a local root see the preview, and audits nothing", async () => {
    await using local = await startScriptedServer({
      replies: (request) => {
        const first = texts([request])[1] ?? "";
        return { text: repl(`FINAL(${JSON.stringify(first.includes("withheld") ? "withheld" : "shown")})`) };
      },
    });
    writeFileSync(join(root, "one.txt"), `${LINES[0]}\n`);
    const result = await rlm([
      "run",
      "--context",
      "one.txt",
      "--query",
      "q",
      "--model",
      "openai-compatible:mine",
      "--base-url",
      local.url,
      "--privacy",
      "local",
      "--local-model",
      "openai-compatible:mine",
      "--audit",
      "empty-audit.jsonl",
    ]);
    expect(result.code).toBe(0);
    expect(result.stdout).toBe("shown\n");
    expect(readFileSync(join(root, "empty-audit.jsonl"), "utf8")).toBe("");
  });

  it("refuses to start without a local model for sub-calls: exit 2, one line, no request", async () => {
    await using hosted = await startScriptedServer({ replies: [] });
    writeFileSync(join(root, "small.txt"), "hello\n");
    const base = ["run", "--context", "small.txt", "--query", "q", "--base-url", hosted.url];
    const cases: Array<{ args: string[]; says: RegExp }> = [
      {
        args: ["--model", "openai-compatible:root", "--privacy", "local"],
        says: /--privacy local needs a local model for sub-calls: the sub-model \(the root model, as no other was given\) openai-compatible:root is not local/,
      },
      {
        args: [
          "--model",
          "openai-compatible:root",
          "--sub-model",
          "openai-compatible:other",
          "--privacy",
          "local",
          "--local-model",
          "openai-compatible:root",
        ],
        says: /--privacy local needs a local model for sub-calls: the sub-model openai-compatible:other is not local/,
      },
      {
        // Named local, but with no --sub-base-url it would go to the hosted root's server.
        args: [
          "--model",
          "openai-compatible:root",
          "--sub-model",
          "openai-compatible:local-llm",
          "--privacy",
          "local",
          "--local-model",
          "openai-compatible:local-llm",
        ],
        says: /the sub-model openai-compatible:local-llm is named local but would be sent to the root model's base URL, which is not local; give it its own \(--sub-base-url/,
      },
      {
        args: [
          "--model",
          "openai-compatible:root",
          "--sub-model",
          "ollama:llama3",
          "--named-model",
          "cheap=openai:gpt-5-nano",
          "--privacy",
          "local",
        ],
        says: /the named model "cheap" \(openai:gpt-5-nano\) is not local/,
      },
    ];
    for (const { args, says } of cases) {
      const result = await rlm([...base, ...args], { OPENAI_API_KEY: "sk-test-not-used-000000000000" });
      expect(result.code).toBe(2);
      expect(result.stdout).toBe("");
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
      expect(result.stderr).toMatch(says);
    }
    expect(hosted.requests).toHaveLength(0);
  });

  it("checks its flags", async () => {
    writeFileSync(join(root, "small.txt"), "hello\n");
    const base = ["run", "--context", "small.txt", "--query", "q", "--model", "ollama:llama3"];
    const cases: Array<{ args: string[]; says: string }> = [
      { args: ["--privacy", "public"], says: '--privacy takes "local", got "public".' },
      { args: ["--local-model", "ollama:x"], says: "--local-model needs --privacy local." },
      { args: ["--redact", "x"], says: "--redact needs --privacy local." },
      { args: ["--audit", "a.jsonl"], says: "--audit needs --privacy local." },
      {
        args: ["--privacy", "local", "--strategy", "direct"],
        says: "--privacy local works with the rlm strategy, not direct.",
      },
      { args: ["--privacy", "local", "--redact", "(open"], says: '--redact "(open" is not a valid regular' },
      { args: ["--privacy", "local", "--local-model", "nonsense"], says: "--local-model: Model spec" },
      {
        args: ["--privacy", "local", "--audit", join(root, "no-such-dir", "a.jsonl")],
        says: "Cannot write the audit log",
      },
    ];
    for (const { args, says } of cases) {
      const result = await rlm([...base, ...args]);
      expect(result.code, args.join(" ")).toBe(2);
      expect(result.stderr).toContain(says);
      expect(result.stderr.trim().split("\n")).toHaveLength(1);
    }
  });
});
