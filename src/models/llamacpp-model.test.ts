import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { ModelClient } from "./model-client.ts";

const MODEL_PATH = fileURLToPath(new URL("../../../shared/models/stories260K.gguf", import.meta.url));
const present = existsSync(MODEL_PATH);
if (!present) console.warn(`skipping the llamacpp smoke test: ${MODEL_PATH} is absent`);

describe.skipIf(!present)("llamacpp: a real GGUF model in-process", () => {
  it("loads stories260K.gguf and generates a few tokens, streaming and not", async () => {
    const client = new ModelClient({ model: `llamacpp:${MODEL_PATH}` });
    const response = await client.generate({ prompt: "Once upon a time", maxOutputTokens: 12 });
    expect(response.text.length).toBeGreaterThan(0);
    expect(response.usage.outputTokens).toBeGreaterThan(0);
    expect(response.usage.outputTokens).toBeLessThanOrEqual(12);
    expect(response.usage.inputTokens).toBeGreaterThan(0);
    expect(response.usage.costUsd).toBe(0);

    const deltas: string[] = [];
    const streamed = await client.generate({
      prompt: "There was a cat",
      maxOutputTokens: 8,
      onTextDelta: (delta) => deltas.push(delta),
    });
    expect(deltas.join("")).toBe(streamed.text);
    expect(streamed.text.length).toBeGreaterThan(0);
  }, 120_000);
});
