/** The implementation of `rlm keys`, loaded only when the command runs (see ./keys-command.ts). */
import { homedir } from "node:os";
import { join } from "node:path";
import { UsageError } from "../../errors/usage-error.ts";
import { addApiKey, checkKeyName, readKeysFile, removeApiKey } from "../../serve/api-keys.ts";
import { UsageLedger } from "../../serve/usage-ledger.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import { parseOptions, positiveInteger, positiveNumber } from "../parse-options.ts";

const OPTIONS = {
  keys: { type: "string" },
  "max-cost-per-day": { type: "string" },
  "max-concurrent": { type: "string" },
  "max-requests-per-minute": { type: "string" },
  json: { type: "boolean" },
} as const;

const ACTIONS = ["add", "list", "remove"];

function keysPath(flag: string | undefined, env: CliIo["env"]): string {
  const path = flag ?? env.RLM_KEYS_FILE?.trim() ?? join(env.HOME ?? homedir(), ".rlmkit", "keys.json");
  if (path === "") throw new UsageError({ message: "--keys needs a file." });
  return path;
}

export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions("keys", args, OPTIONS, true);
  const [action, name, ...rest] = positionals;
  if (action === undefined || !ACTIONS.includes(action)) {
    throw new UsageError({
      message: `rlm keys takes ${ACTIONS.join(", ")}${action === undefined ? "" : `, not "${action}"`}. Run \`rlm keys --help\`.`,
    });
  }
  if (rest.length > 0)
    throw new UsageError({ message: `Unexpected argument "${rest[0]}". Run \`rlm keys --help\`.` });
  const path = keysPath(values.keys, io.env);
  const limitFlags = ["max-cost-per-day", "max-concurrent", "max-requests-per-minute"] as const;
  if (action !== "add") {
    const stray = limitFlags.find((flag) => values[flag] !== undefined);
    if (stray) throw new UsageError({ message: `--${stray} is for rlm keys add.` });
  }
  if (action === "list") {
    if (name !== undefined) throw new UsageError({ message: "rlm keys list takes no name." });
    const ledger = new UsageLedger(`${path}.usage`);
    const keys = readKeysFile(path).map(({ hash: _hash, ...entry }) => ({
      ...entry,
      today: ledger.today(entry.name),
    }));
    if (values.json) {
      writeLine(io.stdout, JSON.stringify({ file: path, keys }));
      return EXIT.ok;
    }
    if (keys.length === 0)
      writeLine(io.stderr, `No keys in ${path}: add one with rlm keys add NAME --keys ${path}.`);
    for (const key of keys) {
      const limits = [
        key.maxCostPerDay === undefined ? undefined : `$${key.maxCostPerDay}/day`,
        key.maxConcurrent === undefined ? undefined : `${key.maxConcurrent} at once`,
        key.maxRequestsPerMinute === undefined ? undefined : `${key.maxRequestsPerMinute}/min`,
      ].filter(Boolean);
      writeLine(
        io.stdout,
        `${key.name}\t${limits.length > 0 ? limits.join(", ") : "no limits"}\ttoday: ${key.today.requests} runs, $${key.today.costUsd.toFixed(4)}${key.today.unpriced > 0 ? ` (+${key.today.unpriced} unpriced)` : ""}\tcreated ${key.createdAt}`,
      );
    }
    return EXIT.ok;
  }
  if (name === undefined) throw new UsageError({ message: `rlm keys ${action} needs the key's NAME.` });
  checkKeyName(name);
  if (action === "remove") {
    if (!removeApiKey(path, name))
      throw new UsageError({ message: `There is no key named "${name}" in ${path}.` });
    writeLine(io.stderr, `Removed key ${name} from ${path}.`);
    return EXIT.ok;
  }
  const { key } = addApiKey(path, name, {
    maxCostPerDay: positiveNumber("max-cost-per-day", values["max-cost-per-day"]),
    maxConcurrent: positiveInteger("max-concurrent", values["max-concurrent"]),
    maxRequestsPerMinute: positiveInteger("max-requests-per-minute", values["max-requests-per-minute"]),
  });
  writeLine(io.stdout, key);
  writeLine(io.stderr, `Added key ${name} to ${path}. The key above is shown this once: store it now.`);
  return EXIT.ok;
}
