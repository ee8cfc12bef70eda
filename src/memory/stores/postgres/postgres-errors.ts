import { MemoryError } from "../../../errors/memory-error.ts";

/**
 * PostgreSQL and network failures as MemoryErrors with one readable line. Server messages never carry the
 * password; the URL shown is always the store's `location`, which has none either.
 */

const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: "connection refused",
  ECONNRESET: "connection reset",
  ENOTFOUND: "host not found",
  EAI_AGAIN: "host not found",
  ETIMEDOUT: "connection timed out",
  EHOSTUNREACH: "host unreachable",
  ENETUNREACH: "network unreachable",
};

/** The error's code: a SQLSTATE from the server, or a Node network code (also inside an AggregateError). */
function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const { code, errors } = error as { code?: unknown; errors?: unknown };
  if (typeof code === "string") return code;
  return Array.isArray(errors) ? errorCode(errors[0]) : undefined;
}

/** Why the server could not be used, in a few words. */
export function failureReason(error: unknown): string {
  const code = errorCode(error);
  const network = code === undefined ? undefined : NETWORK_REASONS[code];
  if (network) return network;
  const message = error instanceof Error ? error.message : String(error);
  if (/timeout/i.test(message)) return "connection timed out";
  return message.split("\n")[0] || "unknown error";
}

function isConnectionFailure(error: unknown): boolean {
  const code = errorCode(error);
  if (code !== undefined && (code in NETWORK_REASONS || code.startsWith("08") || code.startsWith("57P")))
    return true;
  return error instanceof Error && /Connection terminated|connection timeout/i.test(error.message);
}

/** A failed operation as the store reports it: rule breaks and lost connections become MemoryErrors. */
export function storeFailure(location: string, error: unknown): unknown {
  if (error instanceof MemoryError) return error;
  const code = errorCode(error);
  if (code === "23505") {
    return new MemoryError({
      message: `memory store ${location}: an item with this id already exists`,
      reason: "conflict",
    });
  }
  // Class 22 (data exception, e.g. a NUL character, which PostgreSQL text cannot hold) and 54 (a limit).
  if (code?.startsWith("22") || code?.startsWith("54")) {
    return new MemoryError({
      message: `memory store ${location} cannot store this: ${failureReason(error)}`,
      reason: "invalid",
      cause: error,
    });
  }
  if (isConnectionFailure(error)) {
    return new MemoryError({
      message: `memory store ${location} is unavailable: ${failureReason(error)}`,
      reason: "unavailable",
      cause: error,
    });
  }
  return error;
}
