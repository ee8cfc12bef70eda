import { UsageError } from "../errors/usage-error.ts";
import type { CallUsage } from "../models/usage.ts";
import type { AgentVerification, CheckedClaim } from "./agent-events.ts";
import { type AgentRunHost, errorLine, type HostCallRequest } from "./agent-run-host.ts";
import { type Evidence, selectEvidence } from "./evidence.ts";
import {
  answerFence,
  CHECK_SYSTEM,
  checkPrompt,
  claimsPrompt,
  claimsSystem,
  parseChecks,
  parseClaims,
  REVISE_SYSTEM,
  revisedText,
  revisePrompt,
} from "./verification-prompts.ts";

/** How the claim verification works; every field has a default. */
export interface VerifyOptions {
  /** Claims checked at most (1 to 50, default 12): the most important ones, as the extraction lists them. */
  maxClaims?: number;
  /** Characters of evidence shown to the check (2,000 to 1,000,000; default: half the model's window, at most 60,000). */
  maxEvidenceChars?: number;
}

export interface ResolvedVerifyOptions {
  maxClaims: number;
  maxEvidenceChars: number | undefined;
}

/** Checks the verification's options (`verify: true` takes the defaults); a UsageError names the field. */
export function validateVerifyOptions(given: VerifyOptions | true): ResolvedVerifyOptions {
  const options: VerifyOptions = given === true ? {} : given;
  if (typeof options !== "object" || options === null) {
    throw new UsageError({ message: "verify must be true, false or an object of verification options." });
  }
  const check = (field: keyof VerifyOptions, min: number, max: number) => {
    const value = options[field];
    if (value === undefined) return undefined;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new UsageError({
        message: `verify.${field} must be a whole number from ${min} to ${max}, got ${String(value)}.`,
      });
    }
    return value;
  };
  return {
    maxClaims: check("maxClaims", 1, 50) ?? 12,
    maxEvidenceChars: check("maxEvidenceChars", 2_000, 1_000_000),
  };
}

const CLAIMS_OUTPUT_TOKENS = 1_024;
const CHECK_OUTPUT_TOKENS = 2_048;
/** Characters of the answer the claims are taken from (a longer one is checked from its start). */
const MAX_DRAFT_CHARS = 12_000;
/** An answer longer than this is marked by us, not rewritten by a model (its output cap would cut it). */
const MAX_REVISED_CHARS = 16_000;
const DEFAULT_EVIDENCE_CHARS = 60_000;

/** The answer with its unsupported claims listed after it, when no revision could mark them in place. */
export function markUnsupported(answer: string, claims: readonly string[]): string {
  return `${answer.trimEnd()}\n\n[unverified] Not supported by what the run found:\n${claims.map((claim) => `- ${claim}`).join("\n")}`;
}

/** The outcome: the answer to give (revised or marked when claims were unsupported) and the verification. */
export interface VerifiedAnswer {
  answer: string;
  verification: AgentVerification;
}

/**
 * Checks the claims of a draft answer against the run's evidence before the answer is returned: one call lists
 * the claims (JSON), one batched call judges each against the evidence (sized to fit: whole, or the passages
 * sharing the most words with the claims), and unsupported claims are revised once (removed, or marked
 * "[unverified]"); when the revision cannot be made they are listed after the answer. A limit or a malformed reply
 * leaves the answer as it is with `status: "unverified"` and `skipped` saying why. Never throws.
 */
export async function verifyAnswer(
  host: AgentRunHost,
  draft: string,
  evidence: readonly Evidence[],
  options: ResolvedVerifyOptions,
): Promise<VerifiedAnswer> {
  const usage = { inputTokens: 0, outputTokens: 0, costUsd: 0 as number | null, calls: 0 };
  const call = async (request: HostCallRequest): Promise<string> => {
    const reply = await host.call(request);
    addUsage(usage, reply.usage);
    return reply.text;
  };
  const result = (
    status: AgentVerification["status"],
    claims: CheckedClaim[],
    extra: { skipped?: string } = {},
  ): AgentVerification => {
    const supported = claims.filter((claim) => claim.supported).length;
    return {
      status,
      checked: claims.length,
      supported,
      unsupported: claims.length - supported,
      claims,
      ...extra,
      usage,
    };
  };
  const skipped = (why: string): VerifiedAnswer => ({
    answer: draft,
    verification: result("unverified", [], { skipped: why }),
  });

  const fence = answerFence();
  let claims: string[];
  try {
    const reply = await call({
      label: "verification: claims",
      system: claimsSystem(options.maxClaims),
      prompt: claimsPrompt(host.task, draft.slice(0, MAX_DRAFT_CHARS), fence),
      maxOutputTokens: CLAIMS_OUTPUT_TOKENS,
    });
    const parsed = parseClaims(reply, options.maxClaims);
    if (typeof parsed === "string") return skipped(`the claim list was not usable: ${parsed}`);
    claims = parsed;
  } catch (error) {
    return skipped(`the claims could not be listed: ${errorLine(error, 200)}`);
  }
  if (claims.length === 0) return { answer: draft, verification: result("confirmed", []) };

  let checked: CheckedClaim[];
  if (evidence.length === 0) {
    // Nothing the run's tools returned can support a claim: every claim is unsupported, no call needed.
    checked = claims.map((claim) => ({ claim, supported: false }));
  } else {
    const room =
      options.maxEvidenceChars ?? Math.max(4_000, Math.min(DEFAULT_EVIDENCE_CHARS, host.contextWindow * 2));
    const shown = selectEvidence(evidence, claims, room);
    try {
      const reply = await call({
        label: "verification: check",
        system: CHECK_SYSTEM,
        prompt: checkPrompt(claims, shown.text),
        maxOutputTokens: CHECK_OUTPUT_TOKENS,
      });
      const verdicts = parseChecks(reply, claims.length, shown.ids);
      if (typeof verdicts === "string") return skipped(`the check's reply was not usable: ${verdicts}`);
      checked = claims.map((claim, index) => ({ claim, ...(verdicts[index] as { supported: boolean }) }));
    } catch (error) {
      return skipped(`the claims could not be checked: ${errorLine(error, 200)}`);
    }
  }
  const unsupported = checked.filter((claim) => !claim.supported).map((claim) => claim.claim);
  if (unsupported.length === 0) return { answer: draft, verification: result("confirmed", checked) };

  if (draft.length <= MAX_REVISED_CHARS) {
    try {
      const reply = await call({
        label: "verification: revise",
        system: REVISE_SYSTEM,
        prompt: revisePrompt(host.task, draft, unsupported, fence),
        maxOutputTokens: Math.min(8_192, Math.max(1_024, Math.ceil(draft.length / 2))),
      });
      const revised = revisedText(reply, fence);
      if (revised !== "") return { answer: revised, verification: result("corrected", checked) };
    } catch {
      // the answer is marked below
    }
  }
  return { answer: markUnsupported(draft, unsupported), verification: result("unverified", checked) };
}

function addUsage(
  total: { inputTokens: number; outputTokens: number; costUsd: number | null; calls: number },
  usage: CallUsage,
): void {
  total.inputTokens += usage.inputTokens;
  total.outputTokens += usage.outputTokens;
  total.costUsd = total.costUsd === null || usage.costUsd === null ? null : total.costUsd + usage.costUsd;
  total.calls++;
}

/** The verification as text for the trace's verification event: the counts, then each claim and its evidence. */
export function verificationEvidence(verification: AgentVerification): string {
  const head = verification.skipped
    ? `not checked: ${verification.skipped}`
    : `${verification.checked} claims checked: ${verification.supported} supported, ${verification.unsupported} unsupported`;
  const lines = verification.claims.map(
    (claim) =>
      `${claim.supported ? "supported" : "unsupported"}${claim.evidence ? ` (${claim.evidence})` : ""}: ${claim.claim}`,
  );
  const text = [head, ...lines].join("\n");
  return text.length > 4_000 ? `${text.slice(0, 4_000)}...` : text;
}
