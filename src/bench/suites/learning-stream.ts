import { Random, seedOf } from "../random.ts";
import type { BenchSuite, BenchTask } from "../suite.ts";
import { CHARS_PER_TOKEN } from "../suite.ts";

/**
 * A continual-learning stream (issue #14): tasks meant to be run in order, index 0, 1, 2, ..., where task
 * `index` is of family `index mod 4`. Each family recurs with fresh data and the same question, and hides a
 * trap that a naive reading falls into and a past failure reveals: a lesson (the playbook) or a worked case
 * (the case bank) from an earlier task of the family transfers to the next. Every rule a trap turns on is
 * stated in the data itself, so a careful first attempt can get it right too. Scored exactly (1 or 0).
 *
 * - log-levels: count lines whose level field is ERROR; messages of other levels say "error" / "ERROR" too.
 * - order-revenue: total revenue of a CSV export; refunds are negative amounts in their own column.
 * - config-setting: the value a setting has in effect; later lines override, and a newer line is commented out.
 * - distinct-users: distinct users of an event log; ids are case-insensitive and differ only in case.
 */

export interface LearningFamily {
  name: string;
  /** The trap, in words (for the README and the tests). */
  trap: string;
}

export const LEARNING_FAMILIES: readonly LearningFamily[] = [
  {
    name: "log-levels",
    trap: "count by the level field: messages of INFO and WARN lines mention error and ERROR",
  },
  {
    name: "order-revenue",
    trap: "refunds are negative amounts in a separate column and must be deducted",
  },
  {
    name: "config-setting",
    trap: "a newer assignment is commented out and does not count; later live lines override earlier ones",
  },
  {
    name: "distinct-users",
    trap: "user ids are case-insensitive: ids differing only in case are one user",
  },
];

/** The family of the task at `index` in the stream. */
export function learningFamilyOf(index: number): LearningFamily {
  return LEARNING_FAMILIES[index % LEARNING_FAMILIES.length] as LearningFamily;
}

/** The first number of an answer as written: `$1,234.50` -> 1234.5 (commas in digit groups dropped). */
export function answerNumber(answer: unknown): number | undefined {
  const text = typeof answer === "string" ? answer : JSON.stringify(answer ?? "");
  const match = /-?\d[\d,]*(?:\.\d+)?/.exec(text.replace(/(\d),(?=\d{3}\b)/g, "$1"));
  if (!match) return undefined;
  const value = Number(match[0].replace(/,/g, ""));
  return Number.isFinite(value) ? value : undefined;
}

/** 1 when the answer's first number is `expected` (within half a cent), else 0. */
export function exactNumberScore(answer: unknown, expected: number): number {
  const value = answerNumber(answer);
  return value !== undefined && Math.abs(value - expected) < 0.005 ? 1 : 0;
}

const SERVICES = ["billing", "search", "auth", "checkout", "catalog", "mailer", "reports", "gateway"];
const INFO_MESSAGES = [
  "request served in {n} ms",
  "cache warmed with {n} entries",
  "retried after a transient error from upstream, succeeded",
  "error budget at {n} percent, within target",
  "cleared the previous ERROR state after restart",
  "user session renewed",
  "no error found in {n} records checked",
  "health check passed",
];
const WARN_MESSAGES = [
  "slow response: {n} ms",
  "error rate rising: {n} per minute",
  "disk usage at {n} percent",
  "ERROR count threshold nearly reached",
];
const ERROR_MESSAGES = [
  "failed to write record {n}",
  "connection refused by database",
  "unhandled exception in worker {n}",
  "timeout after {n} ms",
];

function timestamp(random: Random, base: number, step: number): string {
  return new Date(base + step * 1000 + random.int(0, 999)).toISOString();
}

function logLevels(random: Random, chars: number): Omit<BenchTask, "id"> {
  const lines = ["# service log: one line per event; the level field is level=DEBUG|INFO|WARN|ERROR"];
  const base = Date.UTC(2024, random.int(0, 11), random.int(1, 28));
  let errors = 0;
  let size = lines[0]?.length ?? 0;
  for (let step = 0; size < chars || errors === 0; step++) {
    const roll = random.next();
    const level = roll < 0.08 ? "ERROR" : roll < 0.22 ? "WARN" : roll < 0.3 ? "DEBUG" : "INFO";
    const pool = level === "ERROR" ? ERROR_MESSAGES : level === "WARN" ? WARN_MESSAGES : INFO_MESSAGES;
    const message = random.pick(pool).replace("{n}", String(random.int(2, 900)));
    if (level === "ERROR") errors++;
    const line = `${timestamp(random, base, step)} level=${level} service=${random.pick(SERVICES)} msg="${message}"`;
    lines.push(line);
    size += line.length + 1;
  }
  return {
    context: lines.join("\n"),
    query: "How many lines of this service log have the level ERROR? Answer with a number.",
    expected: String(errors),
    score: (answer) => exactNumberScore(answer, errors),
  };
}

const CUSTOMERS = [
  "acme",
  "birch",
  "cobalt",
  "delta",
  "ember",
  "fjord",
  "garnet",
  "harbor",
  "iris",
  "juniper",
];

function orderRevenue(random: Random, chars: number): Omit<BenchTask, "id"> {
  const lines = [
    "# orders export; amounts in USD. The refund column holds refunds as negative amounts (0.00 when none);",
    "# revenue = amount + refund, summed over all orders.",
    "order_id,customer,amount,refund",
  ];
  let cents = 0;
  let refunds = 0;
  let size = lines.join("\n").length;
  for (let order = random.int(1000, 5000); size < chars || refunds === 0; order++) {
    const amount = random.int(500, 50_000);
    const refund = random.next() < 0.12 ? -random.int(100, amount) : 0;
    if (refund !== 0) refunds++;
    cents += amount + refund;
    const line = `A${order},${random.pick(CUSTOMERS)},${(amount / 100).toFixed(2)},${(refund / 100).toFixed(2)}`;
    lines.push(line);
    size += line.length + 1;
  }
  const expected = cents / 100;
  return {
    context: lines.join("\n"),
    query:
      "What is the total revenue of the orders in this export, in USD? Answer with a number with two decimals.",
    expected: expected.toFixed(2),
    score: (answer) => exactNumberScore(answer, expected),
  };
}

const SETTINGS = [
  "max_connections",
  "request_timeout_ms",
  "worker_threads",
  "cache_size_mb",
  "retry_limit",
  "queue_depth",
];
const OTHER_KEYS = [
  "log_level = info",
  "listen_port = 8080",
  "tls_enabled = true",
  "data_dir = /var/lib/app",
  "gzip = on",
  "metrics_path = /metrics",
  "region = eu-west",
  "keepalive_s = 75",
];

function configSetting(random: Random, chars: number): Omit<BenchTask, "id"> {
  const setting = random.pick(SETTINGS);
  const lines = [
    "# service configuration. Lines starting with # are comments and are ignored;",
    "# when a setting is assigned more than once, the last assignment wins.",
  ];
  const values: number[] = [];
  let size = lines.join("\n").length;
  // Live assignments spread over the file: the last live one is the answer.
  const assignments = random.int(3, 5);
  const positions = new Set<number>();
  const total = Math.max(assignments + 8, Math.round(chars / 22));
  while (positions.size < assignments) positions.add(random.int(0, total - 6));
  let section = 0;
  for (let line = 0; line < total || size < chars; line++) {
    if (line % 40 === 0) {
      lines.push(`[section_${++section}]`);
    }
    let text: string;
    if (positions.has(line)) {
      const value = random.int(10, 5000);
      values.push(value);
      text = `${setting} = ${value}`;
    } else if (random.next() < 0.15) {
      text = `# note: ${random.pick(OTHER_KEYS).split(" = ")[0]} reviewed on 2024-0${random.int(1, 9)}-1${random.int(0, 9)}`;
    } else {
      text = random.pick(OTHER_KEYS);
    }
    lines.push(text);
    size += text.length + 1;
  }
  const expected = values.at(-1) as number;
  let newer = random.int(10, 5000);
  while (newer === expected) newer = random.int(10, 5000);
  // The trap: a newer value, near the end, commented out.
  lines.splice(lines.length - random.int(1, 3), 0, `# ${setting} = ${newer}   (raised during the incident)`);
  return {
    context: lines.join("\n"),
    query: `Which value of the setting ${setting} is in effect in this configuration file? Answer with the value only.`,
    expected: String(expected),
    score: (answer) => exactNumberScore(answer, expected),
  };
}

const NAMES = [
  "alice",
  "bruno",
  "chen",
  "dana",
  "emeka",
  "farah",
  "goran",
  "hana",
  "ivan",
  "jules",
  "kofi",
  "lena",
];
const ACTIONS = ["login", "logout", "view", "search", "purchase", "upload", "comment"];

/** One spelling of an id: the same letters, some upper-cased. */
function spelling(random: Random, id: string): string {
  const style = random.int(0, 3);
  if (style === 0) return id;
  if (style === 1) return id.toUpperCase();
  if (style === 2) return id.charAt(0).toUpperCase() + id.slice(1);
  return [...id].map((char) => (random.next() < 0.5 ? char.toUpperCase() : char)).join("");
}

function distinctUsers(random: Random, chars: number): Omit<BenchTask, "id"> {
  const lines = [
    "# event log: user ids are case-insensitive (older clients sent them as typed; the server compares them lower-cased)",
  ];
  const users = Math.max(5, Math.min(400, Math.round(chars / 400)));
  const ids = new Set<string>();
  while (ids.size < users) ids.add(`${random.pick(NAMES)}${random.int(10, 999)}`);
  const pool = [...ids];
  const seen = new Set<string>();
  const base = Date.UTC(2024, random.int(0, 11), random.int(1, 28));
  let size = lines[0]?.length ?? 0;
  for (let step = 0; size < chars || seen.size < Math.min(3, pool.length); step++) {
    const id = random.pick(pool);
    seen.add(id);
    const line = `${timestamp(random, base, step)} user=${spelling(random, id)} action=${random.pick(ACTIONS)}`;
    lines.push(line);
    size += line.length + 1;
  }
  const expected = seen.size;
  return {
    context: lines.join("\n"),
    query: "How many distinct users appear in this event log? Answer with a number.",
    expected: String(expected),
    score: (answer) => exactNumberScore(answer, expected),
  };
}

const GENERATORS: Record<string, (random: Random, chars: number) => Omit<BenchTask, "id">> = {
  "log-levels": logLevels,
  "order-revenue": orderRevenue,
  "config-setting": configSetting,
  "distinct-users": distinctUsers,
};

/** The suite's name; `rlm bench` draws its learning curve for it (and for any `+learning` strategy). */
export const LEARNING_SUITE = "learning";

export const learningStreamSuite: BenchSuite = {
  name: LEARNING_SUITE,
  description:
    "a stream of recurring task families, each with a trap a past failure reveals; rlm vs rlm+learning, in order",
  generate(sizeTokens, seed, index): BenchTask {
    const family = learningFamilyOf(index);
    const random = new Random(seedOf(LEARNING_SUITE, seed, sizeTokens, index));
    const generate = GENERATORS[family.name] as (random: Random, chars: number) => Omit<BenchTask, "id">;
    return {
      id: `learning-${sizeTokens}-${index}-${family.name}`,
      ...generate(random, sizeTokens * CHARS_PER_TOKEN),
    };
  },
};
