/** The implementation of `rlm feedback`, loaded only when the command runs (see ./feedback-command.ts). */
import { UsageError } from "../../errors/usage-error.ts";
import { createCaseBank, type Reward } from "../../learning/case-bank.ts";
import { defaultMemoryLocation, openMemoryStore } from "../../memory/open-memory-store.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import { parseOptions } from "../parse-options.ts";

const OPTIONS = {
  good: { type: "boolean" },
  bad: { type: "boolean" },
  reward: { type: "string" },
  note: { type: "string" },
  db: { type: "string" },
  scope: { type: "string" },
  json: { type: "boolean" },
} as const;

function usage(message: string): UsageError {
  return new UsageError({ message: `${message} Run \`rlm feedback --help\`.` });
}

/** Runs `rlm feedback` and resolves to its exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values, positionals } = parseOptions("feedback", args, OPTIONS, true);
  const [runId, ...extra] = positionals;
  if (runId === undefined || extra.length > 0) throw usage("rlm feedback needs one RUN_ID.");
  const given = [values.good, values.bad, values.reward !== undefined].filter(Boolean).length;
  if (given !== 1) throw usage("Give one of --good, --bad or --reward R.");
  let reward: Reward = values.good ? "good" : "bad";
  if (values.reward !== undefined) {
    const parsed = Number(values.reward);
    if (values.reward.trim() === "" || !Number.isFinite(parsed) || parsed < 0 || parsed > 1) {
      throw usage(`--reward must be a number from 0 to 1, got "${values.reward}".`);
    }
    reward = parsed;
  }
  const store = await openMemoryStore(values.db ?? defaultMemoryLocation(io.env), {
    warn: (line) => writeLine(io.stderr, `warning: ${line}`),
  });
  try {
    const bank = createCaseBank({ store, ...(values.scope ? { scope: values.scope } : {}) });
    const result = await bank.feedback(runId, reward, {
      source: "user",
      ...(values.note === undefined ? {} : { note: values.note }),
    });
    writeLine(
      io.stdout,
      values.json
        ? JSON.stringify(result)
        : `recorded reward ${result.reward} for run ${runId} (case ${result.caseId}); ${result.rewarded.length} case${result.rewarded.length === 1 ? "" : "s"} it was shown moved toward it`,
    );
    return EXIT.ok;
  } finally {
    await store.close();
  }
}
