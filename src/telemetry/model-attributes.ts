/**
 * gen_ai.provider.name and gen_ai.request.model from a model label (`provider:modelId`, as resolveModel makes
 * it: `openai:gpt-5-mini`, or an AI SDK instance's `openai.chat:gpt-5-mini`).
 */
import { GEN_AI } from "./gen-ai-attributes.ts";

/** Our provider names (and the AI SDK's provider prefixes) -> the conventions' well-known values. */
const WELL_KNOWN: Record<string, string> = {
  openai: "openai",
  anthropic: "anthropic",
  google: "gcp.gemini",
  "google.vertex": "gcp.vertex_ai",
  vertex: "gcp.vertex_ai",
  azure: "azure.ai.openai",
  "amazon-bedrock": "aws.bedrock",
  bedrock: "aws.bedrock",
  mistral: "mistral_ai",
  groq: "groq",
  deepseek: "deepseek",
  xai: "x_ai",
  cohere: "cohere",
  perplexity: "perplexity",
};

export interface ModelName {
  provider: string;
  model: string;
}

/** `ollama:llama3:8b` -> { provider: "ollama", model: "llama3:8b" }; a label without a colon is all model. */
export function modelName(label: string): ModelName {
  const colon = label.indexOf(":");
  if (colon <= 0) return { provider: "unknown", model: label };
  const prefix = label.slice(0, colon);
  const model = label.slice(colon + 1);
  // `openai.chat`, `openai.responses` and `google.vertex.chat` are the AI SDK's names of a provider and an API:
  // the longest known prefix wins; an unknown provider keeps its own name, as the conventions allow.
  const segments = prefix.split(".");
  for (let length = segments.length; length > 0; length--) {
    const known = WELL_KNOWN[segments.slice(0, length).join(".")];
    if (known !== undefined) return { provider: known, model };
  }
  return { provider: prefix, model };
}

export function modelAttributes(name: ModelName): Record<string, string> {
  return { [GEN_AI.providerName]: name.provider, [GEN_AI.requestModel]: name.model };
}
