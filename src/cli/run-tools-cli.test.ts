/** `rlm run --tools FILE.mjs` and `--sub-tools FILE.mjs`, end to end against the scripted server. */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runRlm } from "../../test/rlm-process.ts";
import { type RecordedRequest, startScriptedServer } from "../test/scripted-server.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-tools-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
writeFileSync(join(root, "orders.txt"), "order 1: A1\norder 2: B2\n");

// The user's module: plain JSON Schema parameters, no imports (it lives outside any package).
writeFileSync(
  join(root, "tools.mjs"),
  `const prices = { A1: 10, B2: 20 };
export default {
  lookup_price: {
    description: "Looks up the price of a product by its SKU.",
    parameters: { type: "object", properties: { sku: { type: "string" } }, required: ["sku"] },
    execute: async ({ sku }) => ({ sku, price: prices[sku] }),
  },
  explode: {
    description: "Always fails.",
    execute: () => { throw new Error("boom at " + import.meta.url); },
  },
};
`,
);

function lastUser(request: RecordedRequest): string {
  const messages = request.body?.messages ?? [];
  return String(messages.filter((message) => message.role === "user").at(-1)?.content ?? "");
}

function systemOf(request: RecordedRequest | undefined): string {
  return String(request?.body?.messages?.find((message) => message.role === "system")?.content ?? "");
}

function run(url: string, extra: string[]) {
  return runRlm(
    [
      "run",
      "--context",
      "orders.txt",
      "--query",
      "What do the orders cost?",
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

describe("rlm run --tools", () => {
  it("lists the tools in the prompt, runs them from the code, and traces the calls", async () => {
    const code = [
      "const a = lookup_price({ sku: 'A1' })",
      "const b = lookup_price('B2')",
      "print(JSON.stringify([a, b]))",
      "try { explode() } catch (e) { print(e.name + ': ' + e.message) }",
    ].join("\n");
    await using server = await startScriptedServer({
      replies: (request) =>
        lastUser(request).includes("[cell 1 output]")
          ? { text: repl("FINAL(String(a.price + b.price))") }
          : { text: repl(code) },
    });
    const trace = join(root, "tools.jsonl");
    const result = await run(server.url, ["--tools", "tools.mjs", "--trace", trace]);
    expect(result.code, result.stderr).toBe(0);
    expect(JSON.parse(result.stdout)).toMatchObject({ answer: "30", status: "completed" });

    const [first, second] = server.requests;
    expect(systemOf(first)).toContain(
      "`lookup_price({ sku: string })`: Looks up the price of a product by its SKU.",
    );
    expect(systemOf(first)).toContain("`explode(args?)`: Always fails.");
    const seen = second ? lastUser(second) : "";
    expect(seen).toContain('[{"sku":"A1","price":10},{"sku":"B2","price":20}]');
    // One line, and no host path: the module's file URL is scrubbed.
    expect(seen).toMatch(/ToolError: explode failed: boom at /);
    expect(seen).not.toContain(root);

    const events = readFileSync(trace, "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { type: string; tool?: string; ok?: boolean; args?: string });
    const tools = events.filter((event) => event.type.startsWith("tool-"));
    expect(tools.map((event) => [event.type, event.tool, event.ok ?? event.args])).toEqual([
      ["tool-start", "lookup_price", '{"sku":"A1"}'],
      ["tool-end", "lookup_price", true],
      ["tool-start", "lookup_price", '{"sku":"B2"}'],
      ["tool-end", "lookup_price", true],
      ["tool-start", "explode", "{}"],
      ["tool-end", "explode", false],
    ]);
    const shown = await runRlm(["trace", "show", trace], { cwd: root });
    expect(shown.code, shown.stderr).toBe(0);
    expect(shown.stdout).toMatch(/tool lookup_price · \d+ ms · ok · 23 chars/);
    expect(shown.stdout).toMatch(/tool explode · \d+ ms · failed: explode failed: boom/);
  });

  it("gives sub-models the --sub-tools through their own tool calls, every step booked", async () => {
    await using server = await startScriptedServer({
      replies: (request) => {
        if (request.body?.model === "root") return { text: repl("FINAL(llm_query('What does A1 cost?'))") };
        const result = request.body?.messages?.find((message) => message.role === "tool");
        return result === undefined
          ? { toolCalls: [{ name: "lookup_price", arguments: { sku: "A1" } }] }
          : { text: `A1 costs ${String(result.content)}` };
      },
    });
    const result = await run(server.url, [
      "--sub-model",
      "openai-compatible:sub",
      "--sub-tools",
      "tools.mjs",
    ]);
    expect(result.code, result.stderr).toBe(0);
    const printed = JSON.parse(result.stdout);
    expect(printed.answer).toBe('A1 costs {"sku":"A1","price":10}');
    expect(printed.usage.byModel["openai-compatible:sub"].calls).toBe(2);
    const subRequest = server.requests.find((request) => request.body?.model === "sub");
    expect(JSON.stringify(subRequest?.body?.tools)).toContain('"name":"lookup_price"');
    // Sub-tools are the sub-models' only: the REPL's prompt does not list them.
    expect(systemOf(server.requests[0])).not.toContain("lookup_price");
  });

  it.each([
    ["a missing file", ["--tools", "nope.mjs"], "--tools nope.mjs: no such file."],
    [
      "a module without a default object",
      ["--tools", "no-default.mjs"],
      "--tools no-default.mjs: the module needs a default export of tools",
    ],
    [
      "a tool without execute",
      ["--tools", "no-execute.mjs"],
      '--tools no-execute.mjs: the tool "lookup" has no execute function',
    ],
    [
      "a tool named like a REPL function",
      ["--tools", "clash.mjs"],
      "--tools clash.mjs: \"llm_query\" cannot be a tool's name: it is a name of the REPL's own.",
    ],
    [
      "another strategy",
      ["--tools", "tools.mjs", "--strategy", "direct"],
      "--tools works with the rlm strategy, not direct.",
    ],
    ["a bad --max-tool-calls", ["--max-tool-calls", "-1"], "--max-tool-calls"],
  ])("exits 2 with one clear line for %s", async (_what, extra, message) => {
    writeFileSync(join(root, "no-default.mjs"), "export const lookup = { execute() {} };\n");
    writeFileSync(join(root, "no-execute.mjs"), 'export default { lookup: { description: "d" } };\n');
    writeFileSync(join(root, "clash.mjs"), "export default { llm_query: { execute() {} } };\n");
    const result = await run("http://127.0.0.1:9/v1", extra);
    expect(result.code).toBe(2);
    expect(result.stderr).toContain(message);
    expect(result.stderr.trim().split("\n")).toHaveLength(1);
  });
});
