import { UsageError } from "../errors/usage-error.ts";

/** "8k" -> 8192 tokens, "1m" -> 1048576, "5000" -> 5000. */
export function parseSize(text: string): number {
  const match = /^(\d+(?:\.\d+)?)([km]?)$/i.exec(text.trim());
  if (!match)
    throw new UsageError({ message: `Size "${text}" must look like 8k, 128k, 1m or a number of tokens.` });
  const unit = (match[2] ?? "").toLowerCase();
  const value = Number(match[1]) * (unit === "k" ? 1024 : unit === "m" ? 1024 * 1024 : 1);
  if (value < 256) throw new UsageError({ message: `Size "${text}" is too small: use at least 256 tokens.` });
  return Math.round(value);
}

/** 8192 -> "8k", 1048576 -> "1m". */
export function formatSize(tokens: number): string {
  if (tokens >= 1024 * 1024 && tokens % (1024 * 1024) === 0) return `${tokens / (1024 * 1024)}m`;
  if (tokens >= 1024 && tokens % 1024 === 0) return `${tokens / 1024}k`;
  return String(tokens);
}
