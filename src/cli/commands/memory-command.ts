import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm memory add TEXT [--key K] [--scope S]
       rlm memory remember --key K TEXT [--scope S]
       rlm memory search QUERY [--k N] [--as-of DATE] [--kind K] [--scope S]
       rlm memory consolidate --model SPEC [--scope S] [--batch-size N]
       rlm memory list [--kind K] [--key K] [--scope S] [--all] [--limit N]
       rlm memory history ID | --key K [--scope S]
       rlm memory forget ID [--reason TEXT]
       rlm memory export [--out FILE]
       rlm memory import FILE

A durable memory for runs: episodes (what happened), facts (one current value per key; older values kept
as history) and summaries. Nothing is overwritten: a newer fact supersedes an older one, and forget (which
erases an item's text) is recorded.

add          stores an episode (no model call)
remember     stores a fact; the current fact with the same key and scope is superseded
search       keyword (+ vector with --embed-model) + recency retrieval; superseded items only with --as-of
consolidate  turns new episodes into keyed facts and topic summaries, one model call per batch; running it
             again adds nothing
list         items in insertion order (current ones; --all adds superseded and forgotten ones)
history      every version of an item's key, oldest first
forget       erases an item's text, keeps a tombstone
export       every item (forgotten ones left out) as JSONL, on stdout or into FILE
import       JSONL items ({"text": ..., "kind"?, "key"?, "scope"?, "source"?, "metadata"?, "createdAt"?}),
             all or nothing

Options:
  --db PATH|URL       SQLite file or postgres:// URL (default: RLM_MEMORY_DB, else ~/.rlmkit/memory.db)
  --json              print JSON: items for add/remember, arrays for search/list/history
  --scope S           namespace (a user, project or agent); default "default"
  --key K             what a fact is about, e.g. user.city
  --kind K            episode, fact, summary, case or lesson
  --k N               hits to return (default 5)
  --as-of DATE        search the past: items valid at DATE (ISO, e.g. 2026-05-01)
  --model SPEC        model for consolidate
  --base-url URL      base URL for openai-compatible or ollama models (and embeddings)
  --api-key KEY       API key (else the provider's environment variable)
  --embed-model SPEC  embeddings for vector search (openai:text-embedding-3-small, ollama:nomic-embed-text)
  --batch-size N      episodes per consolidation call (default 20)
  --limit N           items listed (default 100)
  --all               list superseded and forgotten items too
  --reason TEXT       why an item is forgotten (kept in its record)
  --out FILE          where export writes
  -h, --help          show this help`;

/** `rlm memory`: its help loads with the CLI; the stores and models only when the command runs. */
export const memoryCommand: Command = {
  name: "memory",
  summary: "add, search, consolidate, export and import the durable memory",
  help: HELP,
  run: lazyRun(() => import("./memory-implementation.ts")),
};
