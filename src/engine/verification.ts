import { answerText } from "./answer-text.ts";

/** What `--verify` adds to a result: whether the answer held when checked against the context, and how. */
export interface Verification {
  status: "confirmed" | "corrected" | "unverified";
  /** What the checking turn found: its code's output and the model's words, cut to a few thousand characters. */
  evidence: string;
  /** What the verification turn cost, apart from the run's own work (also included in the run's totals). */
  usage: { inputTokens: number; outputTokens: number; costUsd: number | null; calls: number };
}

/** Root turns the verification may take before the answer stands unverified. */
export const VERIFICATION_TURNS = 3;
const MAX_EVIDENCE_CHARS = 4000;

/** The message that opens the verification turn. Our own words. */
export function verificationRequest(answer: unknown): string {
  const shown = answerText(answer);
  const text = shown.length > 2000 ? `${shown.slice(0, 2000)}...` : shown;
  return `Before your answer is accepted, check it against the context with code. Your answer:
"""
${text}
"""
Find the lines of the context that support each claim (print them), recount anything you counted, and check any number you computed. Then call FINAL again: with the same answer if it holds, or with the corrected answer if it does not. Print what you found as evidence.`;
}

function normalized(value: unknown): string {
  return answerText(value).replace(/\s+/g, " ").trim().toLowerCase();
}

/** Whether a re-given answer is the same answer (whitespace and case aside). */
export function sameAnswer(a: unknown, b: unknown): boolean {
  return normalized(a) === normalized(b);
}

export function evidenceText(parts: string[]): string {
  const text = parts.filter((part) => part.trim() !== "").join("\n---\n");
  return text.length > MAX_EVIDENCE_CHARS ? `${text.slice(0, MAX_EVIDENCE_CHARS)}...` : text;
}
