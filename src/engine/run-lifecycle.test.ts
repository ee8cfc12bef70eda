/** How a run starts and ends around its sandbox. */
import { describe, expect, it } from "vitest";
import { createIsolatedVmSandbox } from "../sandboxes/isolated-vm/isolated-vm-sandbox.ts";
import type { Sandbox } from "../spec/sandbox.ts";
import { ScriptedModel } from "../test/scripted-model.ts";
import { createRLM } from "./rlm.ts";

const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;

describe("the sandbox and the first root call", () => {
  it("start together: the context is loaded while the root model thinks", async () => {
    const order: string[] = [];
    const real = createIsolatedVmSandbox();
    const slow: Sandbox = {
      ...real,
      async create(options) {
        order.push("sandbox start");
        await new Promise((resolve) => setTimeout(resolve, 200));
        const session = await real.create(options);
        order.push("sandbox ready");
        return session;
      },
    };
    const root = new ScriptedModel({
      replies: (call) => {
        order.push(`root call ${call.index}`);
        return repl("FINAL('done')");
      },
      modelId: "root",
    });
    const result = await createRLM({ model: root, sandbox: slow }).run({ context: "c", query: "q" });
    expect(result.answer).toBe("done");
    expect(order.indexOf("root call 0")).toBeLessThan(order.indexOf("sandbox ready"));
  });

  it("a sandbox that cannot start ends the run as failed, with its reason", async () => {
    const broken: Sandbox = {
      name: "broken",
      language: "javascript",
      isolated: true,
      create: async () => {
        throw new Error("no sandbox today");
      },
    };
    const root = new ScriptedModel({
      replies: () => ({ text: repl("FINAL(1)"), delayMs: 5_000 }),
      modelId: "root",
    });
    const result = await createRLM({ model: root, sandbox: broken }).run({ context: "c", query: "q" });
    expect(result.status).toBe("failed");
    expect(result.error).toBe("no sandbox today");
  });
});
