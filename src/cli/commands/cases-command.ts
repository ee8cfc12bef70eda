import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm cases list [--limit N] [--scope S] [--json] [--db DB]
       rlm cases show ID|RUN_ID [--json] [--db DB]

The case bank: every \`rlm run --memory\` is recorded as a case (the task, what the run did, its answer,
status and cost). Before a run, the 4 most useful similar cases go into the prompt as worked examples
(similarity x learned value, sampled with a little exploration); \`rlm feedback RUN_ID --good|--bad\` moves
the value of every case shown to that run toward the reward.

list         cases, oldest first: id, run id, outcome, value, retrievals, task
show         one case in full, by its id or its run's id

Options:
  --db PATH|URL       SQLite file or postgres:// URL (default: RLM_MEMORY_DB, else ~/.rlmkit/memory.db)
  --json              print JSON: {id, runId, task, outcome, value, retrievals, ...} (an array for list)
  --limit N           cases listed (default 100)
  --scope S           only cases of this memory scope (default: every scope)
  -h, --help          show this help`;

/** \`rlm cases\`: its help loads with the CLI; the store only when the command runs. */
export const casesCommand: Command = {
  name: "cases",
  summary: "list and show the case bank's recorded runs, outcomes and learned values",
  help: HELP,
  run: lazyRun(() => import("./cases-implementation.ts")),
};
