import { type ParseArgsOptionsConfig, parseArgs } from "node:util";
import { UsageError } from "../errors/usage-error.ts";

/** Options every command accepts. */
export const COMMON_OPTIONS = {
  help: { type: "boolean", short: "h" },
  debug: { type: "boolean" },
} as const satisfies ParseArgsOptionsConfig;

/**
 * Strict option parsing: an unknown option or a missing value is a UsageError that points at `--help`.
 */
export function parseOptions<T extends ParseArgsOptionsConfig>(
  command: string,
  args: string[],
  options: T,
  allowPositionals = false,
) {
  try {
    return parseArgs({ args, options: { ...COMMON_OPTIONS, ...options }, strict: true, allowPositionals });
  } catch (error) {
    const raw = (error as Error).message;
    // A value that starts with a dash (--max-tokens -5) reads as an option: say how to pass it, in one line.
    const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(raw);
    if (ambiguous) {
      throw new UsageError({
        message: `${ambiguous[1]} needs a value, and one that starts with a dash must be written ${ambiguous[1]}=VALUE. Run \`rlm ${command} --help\` for the options.`,
      });
    }
    const message = raw
      .replace(/\. To specify a positional argument.*$/s, "")
      .replace(/\.$/, "")
      .replace(/\s*\n\s*/g, " ");
    throw new UsageError({ message: `${message}. Run \`rlm ${command} --help\` for the options.` });
  }
}

/** The flag of each run or sandbox limit, so the one limit validator's messages name what the user typed. */
const LIMIT_FLAGS: Record<string, string> = {
  maxIterations: "--max-iterations",
  maxSubcalls: "--max-subcalls",
  maxDepth: "--max-depth",
  maxCostUsd: "--max-cost",
  maxTokens: "--max-tokens",
  timeoutMs: "--timeout (in ms)",
  concurrency: "--concurrency",
  maxToolCalls: "--max-tool-calls",
  maxErrors: "--max-errors",
  cellTimeoutMs: "--cell-timeout (in ms)",
  memoryLimitMb: "--cell-memory",
  outputLimitChars: "--output-limit",
};

/** A limit's field (`maxTokens`) as its command-line flag (`--max-tokens`), for `validateLimits`. */
export function limitFlag(field: string): string {
  return LIMIT_FLAGS[field] ?? `--${field}`;
}

/** Parses a positive number option, or throws a UsageError naming it. */
export function positiveNumber(name: string, value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  const parsed = Number(value);
  if (!Number.isFinite(parsed) || parsed <= 0) {
    throw new UsageError({ message: `--${name} must be a positive number, got "${value}".` });
  }
  return parsed;
}

/** Parses a whole-number option of 0 or more, or throws a UsageError naming it. */
export function nonNegativeInteger(name: string, value: string): number {
  const parsed = Number(value);
  if (!Number.isSafeInteger(parsed) || parsed < 0) {
    throw new UsageError({ message: `--${name} must be a whole number of 0 or more, got "${value}".` });
  }
  return parsed;
}

/** Parses a positive whole-number option, or throws a UsageError naming it. */
export function positiveInteger(name: string, value: string | undefined): number | undefined {
  const parsed = positiveNumber(name, value);
  if (parsed !== undefined && !Number.isInteger(parsed)) {
    throw new UsageError({ message: `--${name} must be a whole number, got "${value}".` });
  }
  return parsed;
}

/**
 * Lets a string option take its value or none (`--memory` or `--memory DB`): with no value (the next argument is
 * missing or another option), `fallback()` is filled in. parseArgs itself has no optional values.
 */
export function fillOptionalValue(args: string[], flag: string, fallback: () => string): string[] {
  return args.map((arg, index) => {
    if (arg !== flag) return arg;
    const next = args[index + 1];
    return next === undefined || next.startsWith("-") ? `${flag}=${fallback()}` : arg;
  });
}
