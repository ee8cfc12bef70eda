/** `--audit FILE`: privacy audit entries appended to a JSONL file, one request that left the machine a line. */
import { closeSync, openSync, writeSync } from "node:fs";
import { UsageError } from "../../errors/usage-error.ts";
import type { PrivacyAuditEntry } from "./privacy.ts";

export interface AuditLog {
  /** Appends one entry; throws when it cannot (the request it describes is then not sent). */
  write(entry: PrivacyAuditEntry): void;
  close(): void;
}

/** Opens (creating or appending to) an audit file; a path that cannot be written is a UsageError at once. */
export function openAuditLog(path: string): AuditLog {
  let fd: number;
  try {
    fd = openSync(path, "a");
  } catch (error) {
    throw new UsageError({
      message: `Cannot write the audit log ${path}: ${(error as NodeJS.ErrnoException).code ?? "error"}. Give a path in an existing, writable folder.`,
    });
  }
  let open = true;
  return {
    write(entry) {
      if (!open) throw new Error(`the audit log ${path} is closed`);
      const { at, runId, depth, model, chars, redactions } = entry;
      try {
        writeSync(
          fd,
          `${JSON.stringify({ at: new Date(at).toISOString(), runId, depth, model, chars, redactions })}\n`,
        );
      } catch (error) {
        throw new Error(
          `the audit log ${path} could not be written (${(error as NodeJS.ErrnoException).code ?? "error"}), so the request was not sent`,
        );
      }
    },
    close() {
      if (!open) return;
      open = false;
      try {
        closeSync(fd);
      } catch {
        // nothing more to write
      }
    },
  };
}
