import { afterEach, describe, expect, it } from "vitest";
import { ConfigError } from "../../errors/config-error.ts";
import type { Memory } from "../../memory/memory.ts";
import {
  type RecordedRequest,
  type ScriptedServer,
  startScriptedServer,
} from "../../test/scripted-server.ts";
import { createRLM, type RLMOptions } from "../rlm.ts";
import type { PrivacyAuditEntry } from "./privacy.ts";

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

const servers: ScriptedServer[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((server) => server.close()));
});

function textsOf(request: RecordedRequest): string[] {
  return (request.body?.messages ?? []).map((message) =>
    typeof message.content === "string" ? message.content : JSON.stringify(message.content),
  );
}

const hostedRoot = {
  model: "openai-compatible:root",
  settings: { baseUrl: "http://127.0.0.1:9/v1", env: {} },
};

describe("privacy mode: what must be local", () => {
  it.each<[string, Partial<RLMOptions>, RegExp]>([
    [
      "the root as sub-model",
      {},
      /--privacy local needs a local model for sub-calls: the sub-model \(the root model, as no other was given\) openai-compatible:root is not local/,
    ],
    [
      "a hosted sub-model",
      { subModel: "openai-compatible:sub", subModelSettings: { baseUrl: "http://127.0.0.1:9/v1" } },
      /the sub-model openai-compatible:sub is not local/,
    ],
    [
      "a hosted named model",
      {
        subModel: "ollama:llama3",
        models: { big: "openai-compatible:big" },
        modelSettings: { big: { baseUrl: "http://127.0.0.1:9/v1" } },
      },
      /the named model "big" \(openai-compatible:big\) is not local/,
    ],
    [
      "a hosted embedder of the memory",
      {
        subModel: "ollama:llama3",
        memory: { embedder: { label: "openai:text-embedding-3-small" } } as unknown as Memory,
      },
      /a local embedding model for the memory: openai:text-embedding-3-small is not local/,
    ],
  ])("refuses %s with a ConfigError", (_name, options, message) => {
    const create = () => createRLM({ ...hostedRoot, ...options, privacy: { mode: "local" } });
    expect(create).toThrow(ConfigError);
    expect(create).toThrow(message);
  });

  it("refuses a model named local that would reach the hosted root's server", () => {
    const named = { mode: "local" as const, localModels: ["openai-compatible:mine"] };
    expect(() => createRLM({ ...hostedRoot, subModel: "openai-compatible:mine", privacy: named })).toThrow(
      /the sub-model openai-compatible:mine is named local but would be sent to the root model's base URL/,
    );
    expect(() =>
      createRLM({
        model: "openai-compatible:root",
        settings: { env: { OPENAI_COMPATIBLE_BASE_URL: "http://127.0.0.1:9/v1/" } },
        subModel: "ollama:x",
        models: { mine: "openai-compatible:mine" },
        modelSettings: { mine: { baseUrl: "http://127.0.0.1:9/v1" } },
        privacy: named,
      }),
    ).toThrow(/the named model "mine" openai-compatible:mine is named local but would be sent/);
    // Its own base URL: fine.
    expect(() =>
      createRLM({
        ...hostedRoot,
        subModel: "openai-compatible:mine",
        subModelSettings: { baseUrl: "http://127.0.0.1:8/v1" },
        privacy: named,
      }),
    ).not.toThrow();
  });

  it("takes ollama: and llamacpp: as local, and openai-compatible: only when named", () => {
    expect(() =>
      createRLM({ ...hostedRoot, subModel: "ollama:llama3", privacy: { mode: "local" } }),
    ).not.toThrow();
    expect(() =>
      createRLM({
        ...hostedRoot,
        subModel: "openai-compatible:mine",
        subModelSettings: { baseUrl: "http://127.0.0.1:8/v1" },
        models: { fast: "ollama:qwen3" },
        privacy: { mode: "local", localModels: ["openai-compatible:mine"] },
      }),
    ).not.toThrow();
    // The root itself named local: no sub-model needed.
    expect(() =>
      createRLM({ ...hostedRoot, privacy: { mode: "local", localModels: [" openai-compatible:root "] } }),
    ).not.toThrow();
  });

  it("refuses another mode and a bad pattern", () => {
    expect(() =>
      createRLM({ ...hostedRoot, subModel: "ollama:x", privacy: { mode: "cloud" as "local" } }),
    ).toThrow(/privacy.mode must be "local"/);
    expect(() =>
      createRLM({ ...hostedRoot, subModel: "ollama:x", privacy: { mode: "local", redact: ["[a-"] } }),
    ).toThrow(ConfigError);
  });
});

describe("privacy mode: runs", () => {
  it("redacts child runs' root requests with the tree's placeholders and audits them at their depth", async () => {
    const local = await startScriptedServer({ replies: () => ({ text: "unused" }) });
    servers.push(local);
    const hosted = await startScriptedServer({
      replies: (request) => {
        const messages = request.body?.messages ?? [];
        const child = String(messages[1]?.content ?? "").startsWith("Question: Look at");
        const turn = messages.filter((message) => message.role === "assistant").length;
        if (child) return { text: repl("FINAL(context.split('\\n')[1])") };
        if (turn === 0)
          return {
            text: repl(
              "const answer = rlm_query('Look at ' + context.split('\\n')[0], context)\nprint('child said: ' + answer)",
            ),
          };
        return { text: repl("FINAL('done')") };
      },
    });
    servers.push(hosted);
    const audits: PrivacyAuditEntry[] = [];
    const rlm = createRLM({
      model: "openai-compatible:root",
      settings: { baseUrl: hosted.url, env: {} },
      subModel: "openai-compatible:local",
      subModelSettings: { baseUrl: local.url },
      limits: { maxDepth: 2 },
      privacy: {
        mode: "local",
        localModels: ["openai-compatible:local"],
        onAudit: (entry) => audits.push(entry),
      },
    });
    const result = await rlm.run({
      context: "from bob@example.org\ncall +1 415 555 0100\n",
      query: "Where did bob@example.org write from?",
    });
    expect(result.status).toBe("completed");
    expect(result.answer).toBe("done");

    const requests = hosted.requests.filter((request) => request.path.endsWith("/chat/completions"));
    expect(requests).toHaveLength(3);
    const all = requests.flatMap(textsOf).join("\n");
    expect(all).not.toContain("bob@example.org");
    expect(all).not.toContain("415 555 0100");
    // The child's question holds the parent's placeholder for the same value; its preview is withheld too.
    const childFirst = textsOf(requests[1] as RecordedRequest)[1] ?? "";
    expect(childFirst).toContain("Question: Look at from [EMAIL_1]");
    expect(childFirst).toContain("withheld: privacy mode");
    expect(all).toContain("child said: call [PHONE_1]");

    expect(audits.map((entry) => entry.depth)).toEqual([0, 1, 0]);
    expect(audits.map((entry) => entry.redactions)).toEqual([
      { email: 1 },
      { email: 1 },
      { email: 1, phone: 1 },
    ]);
    const events = result.trace.filter((event) => event.type === "privacy-audit");
    expect(events).toHaveLength(3);
    expect(events[1]).toMatchObject({
      depth: 1,
      parentRunId: events[0]?.runId,
      model: "openai-compatible:root",
    });
  });

  it("sends nothing when the audit cannot be written", async () => {
    const hosted = await startScriptedServer({ replies: () => ({ text: repl("FINAL(1)") }) });
    servers.push(hosted);
    const rlm = createRLM({
      model: "openai-compatible:root",
      settings: { baseUrl: hosted.url, env: {} },
      subModel: "ollama:llama3",
      limits: { maxIterations: 2 },
      privacy: {
        mode: "local",
        onAudit: () => {
          throw new Error("disk full");
        },
      },
    });
    const result = await rlm.run({ context: "a@b.co", query: "q" });
    expect(result.status).toBe("failed");
    expect(result.error).toContain("disk full");
    expect(hosted.requests).toHaveLength(0);
  });
});
