import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm feedback RUN_ID --good|--bad|--reward R [--note TEXT] [--db DB] [--scope S] [--json]

Tells the case bank how a run went. The run's case (recorded by \`rlm run --memory\`) gets the outcome, and
every case that was shown to that run as a worked example moves its learned value toward the reward:
value <- value + 0.3 x (reward - value), from a prior of 0.5. Giving feedback again for the same run replaces
the earlier one. RUN_ID is the runId that \`rlm run --json\` prints.

Options:
  --good              the run did well (reward 1)
  --bad               the run did badly (reward 0)
  --reward R          a reward from 0 to 1
  --note TEXT         why (kept with the outcome)
  --db PATH|URL       SQLite file or postgres:// URL (default: RLM_MEMORY_DB, else ~/.rlmkit/memory.db)
  --scope S           the memory scope the run used (default "default"; other scopes are searched after it)
  --json              print {caseId, runId, reward, rewarded}
  -h, --help          show this help

Exit codes: 0 recorded, 2 usage error or no case for RUN_ID.`;

/** \`rlm feedback\`: its help loads with the CLI; the store only when the command runs. */
export const feedbackCommand: Command = {
  name: "feedback",
  summary: "tell the case bank whether a run went well (--good / --bad)",
  help: HELP,
  run: lazyRun(() => import("./feedback-implementation.ts")),
};
