/**
 * The output limit, enforced on the host side of the boundary. Guests cut their own output too (to save copying),
 * but what they report is not trusted: whatever arrives is cut here again before anyone sees it.
 */

/** The marker put where output was cut; the same text the guest preludes write. */
export function cutMarker(cut: number): string {
  return `\n... [${cut} characters cut] ...\n`;
}

/**
 * Keeps at most `limit` characters of `output` (head and tail halves) plus one marker, and the total of
 * characters cut: `reportedCut` (what the guest says it cut already, clamped to a sane number) plus what is cut here.
 */
export function limitOutput(
  output: unknown,
  limit: number,
  reportedCut: unknown = 0,
): { output: string; truncatedChars: number } {
  const text =
    typeof output === "string" ? output : output === undefined || output === null ? "" : String(output);
  const earlier =
    typeof reportedCut === "number" && Number.isFinite(reportedCut) && reportedCut > 0
      ? Math.min(Math.floor(reportedCut), Number.MAX_SAFE_INTEGER)
      : 0;
  const half = Math.max(1, Math.floor(Math.max(2, limit) / 2));
  // A guest that cut its own output adds one marker (about 40 characters) to head + tail.
  if (text.length <= 2 * half + cutMarker(earlier).length) return { output: text, truncatedChars: earlier };
  const cutHere = text.length - 2 * half;
  const total = earlier + cutHere;
  return {
    output: `${text.slice(0, half)}${cutMarker(total)}${text.slice(text.length - half)}`,
    truncatedChars: total,
  };
}
