/**
 * `rlm serve --memory`: runs of the rlm strategy remember across requests, each API key in a scope of its own.
 * The executor as the server and workers use it, a real SQLite memory file, the scripted server as the model.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { openMemoryStore } from "../memory/open-memory-store.ts";
import { type RecordedRequest, startScriptedServer } from "../test/scripted-server.ts";
import {
  checkRunSpec,
  createRunExecutor,
  memoryScopeOfKey,
  parseRunSpec,
  type ServeConfig,
} from "./run-spec.ts";

const root = mkdtempSync(join(tmpdir(), "rlmkit-serve-memory-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
const firstUser = (request: RecordedRequest) =>
  String(request.body?.messages?.find((message) => message.role === "user")?.content ?? "");

describe("rlm serve with a memory", () => {
  it("recalls a key's earlier runs in its next run, never another key's", async () => {
    await using model = await startScriptedServer({
      replies: () => ({ text: repl("FINAL('noted: ' + context.at(-1).text)") }),
    });
    const store = await openMemoryStore(join(root, "memory.db"));
    try {
      const config: ServeConfig = {
        models: ["openai-compatible:scripted"],
        settings: { baseUrl: model.url, env: {} },
        memory: { store },
      };
      const executor = createRunExecutor(config);
      const ask = async (key: string, content: string) => {
        const spec = parseRunSpec({ model: "rlm", messages: [{ role: "user", content }] }, config);
        spec.memoryScope = memoryScopeOfKey(key);
        const signal = new AbortController().signal;
        return executor(spec, { jobId: content, attempt: 1, signal, emit: () => {} });
      };
      await ask("alice", "the launch code is tangerine-42");
      await ask("bob", "the launch code is ultramarine-7");
      model.requests.length = 0;
      const again = (await ask("alice", "what was the launch code?")) as { answer: string; status: string };
      expect(again.status).toBe("completed");
      const prompt = firstUser(model.requests[0] as RecordedRequest);
      // Alice's earlier run is recalled into her next run's first message (as data), Bob's is not.
      expect(prompt).toContain("<memory");
      expect(prompt).toContain("tangerine-42");
      expect(prompt).not.toContain("ultramarine");
      // Each run is an episode (and a case) in its key's scope.
      const alice = await store.list({ scope: "key:alice", kind: "episode" });
      const bob = await store.list({ scope: "key:bob", kind: "episode" });
      expect(alice).toHaveLength(2);
      expect(bob).toHaveLength(1);
      expect(await store.list({ scope: "key:alice", kind: "case" })).toHaveLength(2);
    } finally {
      await store.close();
    }
  });

  it("a stored run's scope is checked again by the worker", () => {
    const config: ServeConfig = { models: ["openai-compatible:scripted"], settings: { env: {} } };
    const spec = parseRunSpec({ model: "rlm", messages: [{ role: "user", content: "x" }] }, config);
    expect(() => checkRunSpec({ ...spec, memoryScope: 42 }, config)).toThrow(/memoryScope/);
    expect(() => checkRunSpec({ ...spec, memoryScope: "k".repeat(301) }, config)).toThrow(/memoryScope/);
    expect(checkRunSpec({ ...spec, memoryScope: "key:alice" }, config).memoryScope).toBe("key:alice");
  });
});
