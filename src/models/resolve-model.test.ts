import { describe, expect, it } from "vitest";
import { ConfigError } from "../errors/config-error.ts";
import { ScriptedModel } from "../test/scripted-model.ts";
import { startScriptedServer } from "../test/scripted-server.ts";
import { findDefaultModel } from "./default-model.ts";
import { ModelClient } from "./model-client.ts";
import { resolveModel } from "./resolve-model.ts";

function configErrorOf(action: () => unknown): ConfigError {
  try {
    action();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error("expected a ConfigError");
}

describe("resolveModel", () => {
  it("lists the known providers when the prefix is unknown", () => {
    const error = configErrorOf(() => resolveModel("openia:gpt-5", { env: {} }));
    expect(error.message).toContain('"openia"');
    for (const name of ["openai", "anthropic", "google", "ollama", "openai-compatible", "llamacpp"]) {
      expect(error.message).toContain(name);
    }
    expect(error.isUserError).toBe(true);
  });

  it("rejects a spec without a provider", () => {
    expect(configErrorOf(() => resolveModel("gpt-5", { env: {} })).message).toContain("provider:model-id");
  });

  it.each([
    ["openai:gpt-5-mini", "OPENAI_API_KEY"],
    ["anthropic:claude-sonnet-4-5", "ANTHROPIC_API_KEY"],
    ["google:gemini-2.5-flash", "GOOGLE_GENERATIVE_AI_API_KEY"],
  ])("names the variable and the option when %s has no key", (spec, variable) => {
    const error = configErrorOf(() => resolveModel(spec, { env: {} }));
    expect(error.message).toContain(variable);
    expect(error.message).toContain("--api-key");
  });

  it("builds hosted models when the key is in the environment or given explicitly", () => {
    expect(resolveModel("openai:gpt-5-mini", { env: { OPENAI_API_KEY: "k-123456789" } }).label).toBe(
      "openai:gpt-5-mini",
    );
    const anthropic = resolveModel("anthropic:claude-haiku-4-5", { env: {}, apiKey: "explicit-key" });
    expect(anthropic.provider).toBe("anthropic");
    expect(anthropic.model.modelId).toBe("claude-haiku-4-5");
  });

  it("asks for a base URL for openai-compatible", () => {
    const error = configErrorOf(() => resolveModel("openai-compatible:qwen", { env: {} }));
    expect(error.message).toContain("--base-url");
    expect(error.message).toContain("OPENAI_COMPATIBLE_BASE_URL");
  });

  it("keeps colons inside the model id", () => {
    expect(resolveModel("ollama:llama3.1:8b", { env: {} }).modelId).toBe("llama3.1:8b");
  });

  it("reports a missing GGUF file", () => {
    expect(configErrorOf(() => resolveModel("llamacpp:/nowhere/model.gguf")).message).toContain(
      "/nowhere/model.gguf",
    );
  });

  it("passes an AI SDK model instance through", () => {
    const model = new ScriptedModel({ replies: ["x"], modelId: "m1" });
    const resolved = resolveModel(model);
    expect(resolved.model).toBe(model);
    expect(resolved.label).toBe("scripted:m1");
  });
});

describe("the ollama provider", () => {
  it("talks to OLLAMA_BASE_URL through its OpenAI-compatible endpoint", async () => {
    await using server = await startScriptedServer({ replies: [{ text: "from ollama" }] });
    const client = new ModelClient({
      model: "ollama:llama3:8b",
      settings: { env: { OLLAMA_BASE_URL: server.origin } },
    });
    const response = await client.generate({ prompt: "hi" });
    expect(response.text).toBe("from ollama");
    expect(response.usage.costUsd).toBe(0);
    expect(server.requests[0]?.path).toBe("/v1/chat/completions");
    expect(server.requests[0]?.body?.model).toBe("llama3:8b");
  });
});

describe("findDefaultModel", () => {
  const noOllama = { OLLAMA_BASE_URL: "http://127.0.0.1:9" };

  it("prefers RLM_MODEL, then an OpenAI key, then an Anthropic key", async () => {
    expect(
      await findDefaultModel({
        env: { ...noOllama, RLM_MODEL: "google:gemini-2.5-flash", OPENAI_API_KEY: "k" },
      }),
    ).toBe("google:gemini-2.5-flash");
    expect(
      await findDefaultModel({ env: { ...noOllama, OPENAI_API_KEY: "k", ANTHROPIC_API_KEY: "k" } }),
    ).toMatch(/^openai:/);
    expect(await findDefaultModel({ env: { ...noOllama, ANTHROPIC_API_KEY: "k" } })).toMatch(/^anthropic:/);
  });

  it("falls back to the first model of a reachable Ollama", async () => {
    await using server = await startScriptedServer({ replies: [], ollamaModels: ["qwen3:8b", "llama3:8b"] });
    expect(await findDefaultModel({ env: { OLLAMA_BASE_URL: server.origin } })).toBe("ollama:qwen3:8b");
  });

  it("explains the three ways to configure a model when none is found", async () => {
    const error = await findDefaultModel({ env: noOllama }).catch((caught: unknown) => caught);
    expect(error).toBeInstanceOf(ConfigError);
    const message = (error as Error).message;
    expect(message).toContain("RLM_MODEL");
    expect(message).toContain("OPENAI_API_KEY");
    expect(message).toContain("Ollama");
  });
});
