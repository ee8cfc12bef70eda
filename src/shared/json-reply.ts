/**
 * The JSON object in a model's reply (the text from its first `{` to its last `}`, so fences and prose around it
 * do not matter), or a short reason why there is none. Never throws.
 */
export function jsonObjectOf(reply: string): { value: Record<string, unknown> } | string {
  const start = reply.indexOf("{");
  const end = reply.lastIndexOf("}");
  if (start < 0 || end < start) return "no JSON object in the reply";
  let value: unknown;
  try {
    value = JSON.parse(reply.slice(start, end + 1));
  } catch (error) {
    // The parser's message quotes the reply; a reason stays one short line.
    return `the JSON does not parse (${(error as Error).message.slice(0, 120)})`;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return "the JSON is no object";
  return { value: value as Record<string, unknown> };
}
