/** Context windows in tokens by model-id prefix (longest prefix wins). Unknown models: DEFAULT_CONTEXT_WINDOW. */
export const CONTEXT_WINDOWS: Record<string, number> = {
  "gpt-5": 400_000,
  "gpt-4.1": 1_047_576,
  "gpt-4o": 128_000,
  o3: 200_000,
  "o4-mini": 200_000,
  claude: 200_000,
  "gemini-2.5": 1_048_576,
  "gemini-2.0": 1_048_576,
};

/** Used for models the table does not know; override per run with `contextWindows`. */
export const DEFAULT_CONTEXT_WINDOW = 128_000;

/** The context window of a model in tokens. `overrides` are keyed by `provider:modelId` or by modelId. */
export function contextWindowOf(
  provider: string,
  modelId: string,
  overrides: Record<string, number> = {},
): number {
  const exact = overrides[`${provider}:${modelId}`] ?? overrides[modelId];
  if (exact !== undefined) return exact;
  let best: { prefix: string; tokens: number } | undefined;
  for (const [prefix, tokens] of Object.entries(CONTEXT_WINDOWS)) {
    if (modelId.startsWith(prefix) && (best === undefined || prefix.length > best.prefix.length)) {
      best = { prefix, tokens };
    }
  }
  return best?.tokens ?? DEFAULT_CONTEXT_WINDOW;
}
