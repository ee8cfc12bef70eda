/**
 * What each API key spent, recorded durably beside the keys file: one JSONL file per UTC day in the folder
 * `<keys file>.usage/` (`2025-06-01.jsonl`), one line per finished run, appended. A server reads today's file
 * when it starts (and when the day turns), so a restart forgets nothing of a key's daily budget. One server per
 * keys file: two servers would each count only their own runs against a budget.
 */
import { appendFileSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

export interface UsageRecord {
  /** ISO time the run ended. */
  at: string;
  /** The key's name. */
  key: string;
  kind: "chat" | "job";
  /** The completion's or job's id. */
  id: string;
  model: string;
  status: string;
  inputTokens: number;
  outputTokens: number;
  /** Null when a model's price is unknown. */
  costUsd: number | null;
}

export interface DaySpend {
  requests: number;
  inputTokens: number;
  outputTokens: number;
  /** Of the priced runs; `unpriced` runs are not in it. */
  costUsd: number;
  /** Runs whose cost is unknown (a model without a price). */
  unpriced: number;
}

function utcDay(time: number): string {
  return new Date(time).toISOString().slice(0, 10);
}

export class UsageLedger {
  readonly directory: string;
  private day = "";
  private spend = new Map<string, DaySpend>();
  /** Why the last record could not be written, if it could not (kept in memory all the same). */
  failure: string | undefined;

  constructor(directory: string) {
    this.directory = directory;
    this.turnDay(Date.now());
  }

  /** What `key` spent today (UTC). */
  today(key: string, now = Date.now()): DaySpend {
    this.turnDay(now);
    return this.spend.get(key) ?? { requests: 0, inputTokens: 0, outputTokens: 0, costUsd: 0, unpriced: 0 };
  }

  record(record: Omit<UsageRecord, "at">, now = Date.now()): void {
    this.turnDay(now);
    const line: UsageRecord = { at: new Date(now).toISOString(), ...record };
    this.add(line);
    try {
      mkdirSync(this.directory, { recursive: true, mode: 0o700 });
      appendFileSync(join(this.directory, `${this.day}.jsonl`), `${JSON.stringify(line)}\n`, { mode: 0o600 });
      this.failure = undefined;
    } catch (error) {
      this.failure = `usage could not be written to ${this.directory} (${(error as NodeJS.ErrnoException).code ?? "error"})`;
    }
  }

  private add(record: UsageRecord): void {
    const spent = this.spend.get(record.key) ?? {
      requests: 0,
      inputTokens: 0,
      outputTokens: 0,
      costUsd: 0,
      unpriced: 0,
    };
    spent.requests += 1;
    spent.inputTokens += record.inputTokens;
    spent.outputTokens += record.outputTokens;
    spent.costUsd += record.costUsd ?? 0;
    if (record.costUsd === null) spent.unpriced += 1;
    this.spend.set(record.key, spent);
  }

  private turnDay(now: number): void {
    const day = utcDay(now);
    if (day === this.day) return;
    this.day = day;
    this.spend = new Map();
    let text = "";
    try {
      text = readFileSync(join(this.directory, `${day}.jsonl`), "utf8");
    } catch {
      return; // nothing spent yet today
    }
    for (const line of text.split("\n")) {
      if (line.trim() === "") continue;
      try {
        const record = JSON.parse(line) as UsageRecord;
        if (typeof record.key === "string") this.add(record);
      } catch {
        // a line cut by a crash: the rest still counts
      }
    }
  }
}
