/** A final answer as text: a string as it is, any other value as its JSON. */
export function answerText(value: unknown): string {
  return typeof value === "string" ? value : JSON.stringify(value);
}
