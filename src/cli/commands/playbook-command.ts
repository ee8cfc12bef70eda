import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm playbook show [--budget N]
       rlm playbook add TEXT [--section S]
       rlm playbook import FILE
       rlm playbook tag ID --helpful|--harmful
       rlm playbook remove ID
       rlm playbook history
       rlm playbook rollback OP_ID

The playbook: short lessons from earlier runs, as bullets with stable ids (pb-1a2b3c4d) and helpful/harmful
counts. \`rlm run --memory\` puts it into the root's first message within a token budget (highest net score
first: helpful minus harmful, then newer) and learns from each run: cited bullets are tagged, and a reflector
call proposes lessons. Every change is an operation in the memory store; history lists them and rollback undoes one.

show      bullets ranked, and which of them fit the budget ("*" before the id)
add       adds a bullet; a duplicate of a bullet (same or nearly the same words) tags that one helpful instead
import    JSONL lines {"text": ..., "section"?: ...}, all or nothing
tag       counts a bullet helpful or harmful
remove    removes a bullet (rollback brings it back)
history   every operation, oldest first, with what it did
rollback  undoes one operation (an undone ADD takes the bullet's later operations with it)

Options:
  --db PATH|URL   SQLite file or postgres:// URL (default: RLM_MEMORY_DB, else ~/.rlmkit/memory.db)
  --json          print JSON (show: {bullets, renderedTokens, budgetTokens}; history: an array of operations)
  --scope S       namespace of the playbook (default "default")
  --section S     section of an added bullet (default "general"; "mistakes" is shown as mistakes to avoid)
  --budget N      token budget of the rendered playbook for show (default 1500)
  --helpful, --harmful  the tag
  -h, --help      show this help`;

/** `rlm playbook`: its help loads with the CLI; the store only when the command runs. */
export const playbookCommand: Command = {
  name: "playbook",
  summary: "show, add, import, tag, remove and roll back the lessons of the playbook",
  help: HELP,
  run: lazyRun(() => import("./playbook-implementation.ts")),
};
