/**
 * `text.replace(/\s*\n\s*\/g, joiner)` in linear time: each run of whitespace that holds a newline becomes
 * `joiner`. The regular expression is quadratic on long runs of whitespace without a newline (each start rescans
 * the run looking for one: 100,000 spaces took 10 s), and the texts folded here (errors, fetched pages, tool
 * output) may come from a hostile page or model.
 */
export function foldNewlines(text: string, joiner: string): string {
  if (!text.includes("\n")) return text;
  const parts = text.split("\n");
  const first = (parts[0] ?? "").trimEnd();
  const last = (parts[parts.length - 1] ?? "").trimStart();
  const middle = parts
    .slice(1, -1)
    .map((part) => part.trim())
    .filter((part) => part !== "");
  return [first, ...middle, last].join(joiner);
}
