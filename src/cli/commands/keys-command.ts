import { type Command, lazyRun } from "../command.ts";

const HELP = `Usage: rlm keys add NAME [--max-cost-per-day USD] [--max-concurrent N]
                    [--max-requests-per-minute N] [--keys FILE]
       rlm keys list [--keys FILE] [--json]
       rlm keys remove NAME [--keys FILE]

API keys of rlm serve --keys FILE. "add" prints a new key once on stdout (only its SHA-256 is
stored); give it to the client as its API key (Authorization: Bearer KEY). A running server
sees added and removed keys within a second.

Options:
  --keys FILE                   the keys file (default: RLM_KEYS_FILE, else ~/.rlmkit/keys.json)
  --max-cost-per-day USD        the key's spend per UTC day (needs known model prices)
  --max-concurrent N            the key's runs at once
  --max-requests-per-minute N   the key's requests that start a run, per minute
  --json                        list: one JSON document (with today's usage per key)
  -h, --help                    show this help`;

/** `rlm keys`: API keys of `rlm serve` (implementation loaded only when it runs). */
export const keysCommand: Command = {
  name: "keys",
  summary: "add, list and remove API keys of rlm serve",
  help: HELP,
  run: lazyRun(() => import("./keys-implementation.ts")),
};
