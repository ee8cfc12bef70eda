import { ModelClient } from "../src/models/model-client.ts";
import { ScriptedModel } from "../src/test/scripted-model.ts";
import { startScriptedServer } from "../src/test/scripted-server.ts";
import { type Benchmark, timeIt } from "./harness.ts";

/** What the call wrapper (usage, price, retry bookkeeping, events) adds on top of the AI SDK call itself. */
export const modelClientBenchmark: Benchmark = {
  name: "model-client",
  async run() {
    const model = new ScriptedModel({ replies: () => "a short reply" });
    const client = new ModelClient({ model, onEvent: () => {} });
    const { generateText } = await import("ai");
    const direct = await timeIt(() => generateText({ model, prompt: "hello", maxRetries: 0 }), 400, 50);
    const wrapped = await timeIt(() => client.generate({ prompt: "hello" }), 400, 50);

    await using server = await startScriptedServer({ replies: () => ({ text: "a short reply" }) });
    const http = new ModelClient({
      model: "openai-compatible:bench",
      settings: { baseUrl: server.url, env: {} },
    });
    const overHttp = await timeIt(() => http.generate({ prompt: "hello" }), 200, 20);
    return [
      { name: "generateText, scripted model", value: direct, unit: "ms/call" },
      { name: "ModelClient.generate, scripted model", value: wrapped, unit: "ms/call" },
      {
        name: "wrapper overhead",
        value: wrapped - direct,
        unit: "ms/call",
        baseline: "generateText in the same run",
      },
      { name: "ModelClient over local HTTP (openai-compatible)", value: overHttp, unit: "ms/call" },
    ];
  },
};
