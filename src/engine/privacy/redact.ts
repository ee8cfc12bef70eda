/**
 * The redaction filter of privacy mode: finds e-mail addresses, phone numbers, card and account numbers, API keys
 * and tokens, IP addresses and user-given patterns in text, and replaces each with a stable placeholder
 * (`[EMAIL_1]`, `[PHONE_2]`): within one Redactor the same value always becomes the same placeholder. Placeholders
 * hold a kind and a number, never any part of the value; nothing here logs or throws a value.
 *
 * Every detector is a regular expression with bounded repetition (no nested unbounded quantifiers) plus a check
 * in code (Luhn and card prefixes, IBAN mod-97, IPv6 syntax, phone grouping, token entropy), so ordinary numbers
 * (dates, versions, counts, amounts) are left alone.
 */
import { isIPv6 } from "node:net";
import { ConfigError } from "../../errors/config-error.ts";

export type RedactionKind = "email" | "phone" | "card" | "account" | "key" | "ip" | "custom";

export const REDACTION_KINDS: readonly RedactionKind[] = [
  "email",
  "phone",
  "card",
  "account",
  "key",
  "ip",
  "custom",
];

/** Replacements made, by kind (kinds with none are absent). */
export type RedactionCounts = Partial<Record<RedactionKind, number>>;

/** A stretch of text to replace. */
export interface SensitiveSpan {
  start: number;
  end: number;
  kind: RedactionKind;
}

interface Candidate extends SensitiveSpan {
  /** The value in a normal form (digits only, lower case), so one value written two ways gets one placeholder. */
  key: string;
}

type Detector = (text: string) => Candidate[];

/**
 * Runs `pattern` (global) over `text`; `accept` turns a match into a candidate or rejects it. After a rejection the
 * scan goes on from the next character (not past the match), so a valid value inside a rejected stretch is found.
 */
function scan(
  pattern: RegExp,
  text: string,
  accept: (match: RegExpExecArray) => Candidate | undefined,
): Candidate[] {
  const found: Candidate[] = [];
  const regex = new RegExp(pattern.source, pattern.flags.includes("g") ? pattern.flags : `${pattern.flags}g`);
  let match = regex.exec(text);
  while (match !== null) {
    const candidate = match[0] === "" ? undefined : accept(match);
    if (candidate === undefined) regex.lastIndex = match.index + 1;
    else {
      found.push(candidate);
      regex.lastIndex = Math.max(match.index + 1, candidate.end);
    }
    match = regex.exec(text);
  }
  return found;
}

/** The span of capture group 1 of a match made with the `d` flag, or the whole match. */
function groupSpan(match: RegExpExecArray, group = 1): { start: number; end: number; value: string } {
  const indices = match.indices?.[group];
  const value = match[group];
  if (indices === undefined || value === undefined)
    return { start: match.index, end: match.index + match[0].length, value: match[0] };
  return { start: indices[0], end: indices[1], value };
}

function digitsOf(text: string): string {
  return text.replace(/\D/g, "");
}

/** Shannon entropy of a string in bits per character. */
export function entropyBits(text: string): number {
  const counts = new Map<string, number>();
  for (const char of text) counts.set(char, (counts.get(char) ?? 0) + 1);
  let bits = 0;
  for (const count of counts.values()) {
    const p = count / text.length;
    bits -= p * Math.log2(p);
  }
  return bits;
}

// ---------------------------------------------------------------------------------------------------------------
// E-mail addresses

const EMAIL =
  /(?<![\w.%+-])[A-Za-z0-9][A-Za-z0-9._%+-]{0,63}@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}[A-Za-z]{2,24}(?![\w-])/g;

const emails: Detector = (text) =>
  scan(EMAIL, text, (match) => ({
    start: match.index,
    end: match.index + match[0].length,
    kind: "email",
    key: match[0].toLowerCase(),
  }));

// ---------------------------------------------------------------------------------------------------------------
// API keys and tokens

/** Keys with a known shape: OpenAI/Anthropic, Stripe, GitHub, AWS, Google, Slack, GitLab, Hugging Face, npm, JWT. */
const KNOWN_KEYS: RegExp[] = [
  /\bsk-(?:proj-|ant-(?:api\d{2}-)?|svcacct-|admin-)?[A-Za-z0-9_-]{20,}/g,
  /\b(?:sk|pk|rk)_(?:live|test)_[A-Za-z0-9]{16,}/g,
  /\bgh[pousr]_[A-Za-z0-9]{30,}/g,
  /\bgithub_pat_[A-Za-z0-9_]{30,}/g,
  /\b(?:AKIA|ASIA|AGPA|AIDA|AROA|ANPA)[A-Z0-9]{16}(?![A-Za-z0-9])/g,
  /\bAIza[0-9A-Za-z_-]{35}/g,
  /\bxox[abposr]-[A-Za-z0-9-]{10,}/g,
  /\bglpat-[A-Za-z0-9_-]{20,}/g,
  /\bhf_[A-Za-z0-9]{30,}/g,
  /\bnpm_[A-Za-z0-9]{36}/g,
  /\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]*/g,
  /-----BEGIN[A-Z ]{0,40}PRIVATE KEY-----[\s\S]{0,20000}?-----END[A-Z ]{0,40}PRIVATE KEY-----/g,
];

/** `Bearer <token>` / `Basic <credentials>`: the token is replaced, the scheme kept. */
const AUTH_HEADER = /\b(?:Bearer|Basic)[ \t]+([A-Za-z0-9._~+/-]{16,}=*)/dg;

/** `api_key = value`, `"password": "value"`, `token: value`: the value is replaced, the name kept. */
const ASSIGNED_SECRET =
  /\b(?:api[_-]?key|apikey|access[_-]?key|secret[_-]?key|access[_-]?token|auth[_-]?token|refresh[_-]?token|client[_-]?secret|private[_-]?key|secret|token|password|passwd|pwd)\b["']?[ \t]*[:=][ \t]*["']?([^\s"'`,;()[\]{}<>]{6,200})(?=[\s"'`,;)\]}>]|$)/dgi;

/** A long run of token characters: a key of unknown shape when it looks random. */
const LONG_TOKEN = /(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{32,512}={0,2}(?![A-Za-z0-9+/=_-])/g;

/** Whether a long run of token characters looks random (a key, a hash) rather than words or an identifier. */
export function looksRandom(token: string): boolean {
  const body = token.replace(/=+$/, "");
  if (/^[0-9a-fA-F]+$/.test(body)) {
    // Hex: a hash or a key of 128 bits or more; needs letters and digits and no long repeats.
    return /\d/.test(body) && /[a-fA-F]/.test(body) && entropyBits(body) >= 3;
  }
  if (body.startsWith("/")) return false; // a path
  const digits = body.replace(/\D/g, "").length;
  const letters = body.replace(/[^A-Za-z]/g, "").length;
  if (digits < 2 || letters < 2) return false;
  // Words and identifiers put digits in a few runs (name2024); random text mixes them in all along.
  const mixes = body.match(/[A-Za-z](?=\d)|\d(?=[A-Za-z])/g)?.length ?? 0;
  return entropyBits(body) >= 4 && mixes >= Math.max(4, body.length / 8);
}

const keys: Detector = (text) => {
  const found: Candidate[] = [];
  for (const pattern of KNOWN_KEYS) {
    found.push(
      ...scan(pattern, text, (match) => ({
        start: match.index,
        end: match.index + match[0].length,
        kind: "key",
        key: match[0],
      })),
    );
  }
  for (const pattern of [AUTH_HEADER, ASSIGNED_SECRET]) {
    found.push(
      ...scan(pattern, text, (match) => {
        const { start, end, value } = groupSpan(match);
        return { start, end, kind: "key", key: value };
      }),
    );
  }
  return found;
};

const randomTokens: Detector = (text) =>
  scan(LONG_TOKEN, text, (match) =>
    looksRandom(match[0])
      ? { start: match.index, end: match.index + match[0].length, kind: "key", key: match[0] }
      : undefined,
  );

// ---------------------------------------------------------------------------------------------------------------
// Card numbers

/** The Luhn checksum every payment card number passes. */
export function luhnValid(digits: string): boolean {
  let sum = 0;
  for (let index = 0; index < digits.length; index++) {
    let digit = Number(digits[digits.length - 1 - index]);
    if (index % 2 === 1) {
      digit *= 2;
      if (digit > 9) digit -= 9;
    }
    sum += digit;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** Whether the issuer prefix and length are those of a card network (Visa, Mastercard, Amex, ...). */
function cardNetworkFits(digits: string): boolean {
  const length = digits.length;
  const p2 = Number(digits.slice(0, 2));
  const p3 = Number(digits.slice(0, 3));
  const p4 = Number(digits.slice(0, 4));
  if (digits.startsWith("4")) return length === 13 || length === 16 || length === 19; // Visa
  if ((p2 >= 51 && p2 <= 55) || (p4 >= 2221 && p4 <= 2720)) return length === 16; // Mastercard
  if (p2 === 34 || p2 === 37) return length === 15; // American Express
  if (p4 === 6011 || p2 === 65 || (p3 >= 644 && p3 <= 649)) return length >= 16; // Discover
  if (p4 >= 3528 && p4 <= 3589) return length >= 16; // JCB
  if (p2 === 36 || p2 === 38 || p2 === 39 || (p3 >= 300 && p3 <= 305)) return length >= 14; // Diners
  if (p2 === 62) return length >= 16; // UnionPay
  if (p2 === 50 || (p2 >= 56 && p2 <= 69)) return true; // Maestro
  return false;
}

const CARD = /(?<![\d.,+-])\d(?:[ -]?\d){12,18}(?![\d]|[.,]\d)/g;

const cards: Detector = (text) =>
  scan(CARD, text, (match) => {
    const raw = match[0];
    const digits = digitsOf(raw);
    const separators = new Set(raw.match(/[ -]/g) ?? []);
    if (separators.size > 1) return undefined;
    // Written in groups (4-4-4-4, 4-6-5): every group has at least 3 digits.
    if (separators.size === 1 && raw.split(/[ -]/).some((group) => group.length < 3)) return undefined;
    if (!cardNetworkFits(digits) || !luhnValid(digits)) return undefined;
    return { start: match.index, end: match.index + raw.length, kind: "card", key: digits };
  });

// ---------------------------------------------------------------------------------------------------------------
// Account numbers

/** The IBAN check: the country and check digits moved to the end, letters as numbers, mod 97 is 1. */
export function ibanValid(iban: string): boolean {
  const compact = iban.replace(/ /g, "").toUpperCase();
  if (!/^[A-Z]{2}\d{2}[A-Z0-9]{11,30}$/.test(compact)) return false;
  const moved = compact.slice(4) + compact.slice(0, 4);
  let remainder = 0;
  for (const char of moved) {
    const value = char >= "A" ? String(char.charCodeAt(0) - 55) : char;
    for (const digit of value) remainder = (remainder * 10 + Number(digit)) % 97;
  }
  return remainder === 1;
}

const IBAN = /\b[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,4})?(?![A-Za-z0-9])/g;

/** A number after "account", "acct", "IBAN", "routing", "sort code" (with "number", "no.", "#", ":"). */
const LABELLED_ACCOUNT =
  /\b(?:account|acct|a\/c|iban|routing|sort[ -]code|bsb)(?:[ \t]*(?:number|num|no\.?|nr\.?|#))?[ \t]*[:#=]?[ \t]*((?:\d[ -]?){5,30}\d)(?!\d)/dgi;

const accounts: Detector = (text) => [
  ...scan(IBAN, text, (match) =>
    ibanValid(match[0])
      ? {
          start: match.index,
          end: match.index + match[0].length,
          kind: "account",
          key: match[0].replace(/ /g, ""),
        }
      : undefined,
  ),
  ...scan(LABELLED_ACCOUNT, text, (match) => {
    const { start, end, value } = groupSpan(match);
    return { start, end, kind: "account", key: digitsOf(value) };
  }),
];

// ---------------------------------------------------------------------------------------------------------------
// IP addresses

const OCTET = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)";
const IPV4 = new RegExp(`(?<![\\w.])${OCTET}(?:\\.${OCTET}){3}(?![\\w]|\\.\\d)`, "g");
/** A version written before the number: `version 1.2.3.4`, `ver. 1.2.3.4`, `release 1.2.3.4`. */
const VERSION_BEFORE = /(?:version|ver\.?|release|build|rev\.?)[ \t]*[:=]?[ \t]*$/i;

const IPV6 = /(?<![\w:.])[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}(?:\.\d{1,3}){0,3}(?![\w:]|\.\d)/g;

const ips: Detector = (text) => [
  ...scan(IPV4, text, (match) =>
    VERSION_BEFORE.test(text.slice(Math.max(0, match.index - 12), match.index))
      ? undefined
      : { start: match.index, end: match.index + match[0].length, kind: "ip", key: match[0] },
  ),
  ...scan(IPV6, text, (match) => {
    const address = match[0];
    if (!isIPv6(address)) return undefined;
    // Short forms (::1, fe80::1) and clock times are not worth a placeholder; real addresses have 3+ groups.
    const groups = address.split(":").filter((group) => group !== "").length;
    if (groups < 3 && !address.includes(".")) return undefined;
    return { start: match.index, end: match.index + address.length, kind: "ip", key: address.toLowerCase() };
  }),
];

// ---------------------------------------------------------------------------------------------------------------
// Phone numbers

/** International form: `+` and a country code, then digits in groups (`+44 20 7946 0958`, `+1 (555) 123-4567`). */
const INTERNATIONAL_PHONE = /(?<![\w+])\+\d[\d ().-]{5,24}\d(?![\w]|[.-]\d)/g;

/** National forms: `(555) 123-4567`, `555-123-4567`, `020 7946 0958`, `01 23 45 67 89`, `0171 1234567`. */
const NATIONAL_PHONE = /(?<![\w+.,:/-])\(?\d[\d ().-]{6,18}\d(?![\w]|[.,:/-]\d)/g;

/** A number after "phone", "tel", "mobile", "fax" (any grouping, also none). */
const LABELLED_PHONE =
  /\b(?:phone|telephone|tel|mobile|cell|fax|whatsapp)\b\.?(?:[ \t]*(?:no\.?|number|#))?[ \t]*[:=]?[ \t]*(\+?\(?\d[\d ().-]{5,20}\d)(?!\d)/dgi;

/** Groups and separators of a phone candidate, or undefined when its punctuation is not a phone's. */
function phoneGroups(
  raw: string,
): { groups: string[]; separators: string[]; parenthesised: boolean } | undefined {
  // At most one parenthesised group, at the start (after a country code) and not nested.
  const parens = raw.match(/[()]/g) ?? [];
  if (parens.length !== 0 && (parens.length !== 2 || !/^(?:\+\d{1,3}[ .-]?)?\(\d{1,5}\)/.test(raw)))
    return undefined;
  const flat = raw.replace(/\((\d{1,5})\)[ .-]?/, "$1 ");
  if (/[ .-]{2,}/.test(flat)) return undefined;
  const groups = flat.replace(/^\+/, "").split(/[ .-]/);
  const separators = flat.match(/[ .-]/g) ?? [];
  return { groups, separators, parenthesised: parens.length === 2 };
}

function internationalPhone(raw: string): boolean {
  const shape = phoneGroups(raw);
  if (shape === undefined) return false;
  const digits = digitsOf(raw).length;
  return digits >= 8 && digits <= 15;
}

function nationalPhone(raw: string): boolean {
  const shape = phoneGroups(raw);
  if (shape === undefined) return false;
  const { groups, parenthesised } = shape;
  const separators = new Set(shape.separators);
  const digits = groups.join("").length;
  if (digits < 9 || digits > 12 || groups.length < 2 || groups.length > 6) return false;
  const [first = "", ...rest] = groups;
  const last = groups.at(-1) ?? "";
  // One kind of separator (a space after the parenthesised area code aside).
  if (separators.size > 1 && !(parenthesised && separators.size === 2 && separators.has(" "))) return false;
  // Only the first group may be one digit (a trunk or country prefix); the last has at least two.
  if (last.length < 2 || rest.some((group) => group.length < 2)) return false;
  if (groups.some((group) => group.length > 8)) return false;
  const trunk = first.startsWith("0");
  // Two groups only with a trunk prefix (0...) or an area code in parentheses: `030 1234567`, `07700 900123`.
  if (groups.length === 2 && !parenthesised && !trunk) return false;
  // Numbers in a row with spaces are a list unless written as a phone is: a trunk prefix, or 3-3-4 (US).
  if (separators.has(" ") && !parenthesised && !trunk && !/^(?:1 )?\d{3} \d{3} \d{4}$/.test(groups.join(" ")))
    return false;
  // Pairs of digits (12-34-56-78-90) only after a trunk prefix (01 23 45 67 89).
  if (!trunk && groups.every((group) => group.length === 2)) return false;
  // Years in a row (2019-2020-2021).
  if (groups.every((group) => /^(?:19|20)\d\d$/.test(group))) return false;
  // Thousands (1 000 000, 123.456.789): groups of exactly three after a first group of one to three digits.
  if (!parenthesised && !trunk && first.length <= 3 && rest.every((group) => group.length === 3))
    return false;
  // Dotted: a date or a version unless every group has two or more digits.
  if (separators.has(".") && first.length < 2) return false;
  // A year first (2024-01-15 ...) is a date.
  if (/^(?:19|20)\d\d$/.test(first) && (groups[1]?.length ?? 0) <= 2) return false;
  return true;
}

const phones: Detector = (text) => [
  ...scan(LABELLED_PHONE, text, (match) => {
    const { start, end, value } = groupSpan(match);
    const digits = digitsOf(value);
    if (digits.length < 7 || digits.length > 15 || phoneGroups(value) === undefined) return undefined;
    return { start, end, kind: "phone", key: digits };
  }),
  ...scan(INTERNATIONAL_PHONE, text, (match) =>
    internationalPhone(match[0]) ? wholePhone(match) : undefined,
  ),
  ...scan(NATIONAL_PHONE, text, (match) => (nationalPhone(match[0]) ? wholePhone(match) : undefined)),
];

/** A phone number matched as a whole, keyed by its digits (so spacing does not change its placeholder). */
function wholePhone(match: RegExpExecArray) {
  return {
    start: match.index,
    end: match.index + match[0].length,
    kind: "phone" as const,
    key: digitsOf(match[0]),
  };
}

// ---------------------------------------------------------------------------------------------------------------
// User patterns

/** A user pattern as a global regular expression; a bad one is a ConfigError that names the pattern. */
export function compilePattern(pattern: string | RegExp): RegExp {
  if (pattern instanceof RegExp) {
    const flags = pattern.flags.replace(/[gy]/g, "");
    return new RegExp(pattern.source, `${flags}g`);
  }
  try {
    return new RegExp(pattern, "g");
  } catch (error) {
    throw new ConfigError({
      message: `The redaction pattern ${JSON.stringify(pattern)} is not a valid regular expression (${(error as Error).message}).`,
    });
  }
}

function customDetector(patterns: RegExp[]): Detector {
  return (text) =>
    patterns.flatMap((pattern) =>
      scan(pattern, text, (match) => ({
        start: match.index,
        end: match.index + match[0].length,
        kind: "custom",
        key: match[0],
      })),
    );
}

// ---------------------------------------------------------------------------------------------------------------

/** Detectors in order of precedence: where two find overlapping stretches, the earlier one wins. */
const BUILT_IN: Detector[] = [keys, emails, accounts, cards, ips, randomTokens, phones];

export interface RedactorOptions {
  /** More patterns to redact (a string is a regular expression's source); they win over the built-in ones. */
  patterns?: Array<string | RegExp>;
}

/**
 * Finds and replaces sensitive values. One Redactor numbers placeholders for its whole life (a run), so a value
 * seen in two messages gets one placeholder.
 */
export class Redactor {
  private readonly detectors: Detector[];
  private readonly placeholders = new Map<string, string>();
  private readonly next = new Map<RedactionKind, number>();

  constructor(options: RedactorOptions = {}) {
    const custom = (options.patterns ?? []).map(compilePattern);
    this.detectors = custom.length > 0 ? [customDetector(custom), ...BUILT_IN] : BUILT_IN;
  }

  /** The stretches to replace, in text order, without overlaps. */
  find(text: string): SensitiveSpan[] {
    return this.findCandidates(text).map(({ start, end, kind }) => ({ start, end, kind }));
  }

  private findCandidates(text: string): Candidate[] {
    const taken = new Uint8Array(text.length);
    const accepted: Candidate[] = [];
    for (const detector of this.detectors) {
      // Within one detector, longer stretches first (a labelled number over a part of it).
      const found = detector(text).sort((a, b) => b.end - b.start - (a.end - a.start));
      for (const candidate of found) {
        let free = true;
        for (let index = candidate.start; index < candidate.end && free; index++) free = taken[index] === 0;
        if (!free) continue;
        taken.fill(1, candidate.start, candidate.end);
        accepted.push(candidate);
      }
    }
    return accepted.sort((a, b) => a.start - b.start);
  }

  /** The placeholder of a value: the same for the same value (in its normal form) for this Redactor's life. */
  private placeholderOf(kind: RedactionKind, key: string): string {
    const mapKey = `${kind}\u0000${key}`;
    const known = this.placeholders.get(mapKey);
    if (known !== undefined) return known;
    const number = (this.next.get(kind) ?? 0) + 1;
    this.next.set(kind, number);
    const placeholder = `[${kind.toUpperCase()}_${number}]`;
    this.placeholders.set(mapKey, placeholder);
    return placeholder;
  }

  /** The text with every sensitive value replaced; `counts` (when given) gains the replacements made. */
  redact(text: string, counts?: RedactionCounts): string {
    const spans = this.findCandidates(text);
    if (spans.length === 0) return text;
    const parts: string[] = [];
    let at = 0;
    for (const span of spans) {
      parts.push(text.slice(at, span.start), this.placeholderOf(span.kind, span.key));
      at = span.end;
      if (counts) counts[span.kind] = (counts[span.kind] ?? 0) + 1;
    }
    parts.push(text.slice(at));
    return parts.join("");
  }

  /** Distinct values replaced so far, by kind. */
  get distinct(): RedactionCounts {
    return Object.fromEntries(this.next) as RedactionCounts;
  }
}

export function createRedactor(options: RedactorOptions = {}): Redactor {
  return new Redactor(options);
}
