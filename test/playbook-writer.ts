/**
 * One writer process of the playbook's concurrency test: `node playbook-writer.ts DB TAG` applies 200 operations
 * to the playbook in DB, one transaction each: 100 ADDs (the first of them a lesson every writer adds, the others
 * its own) each followed by a TAG helpful on the bullet it became. Prints the ids of its operations as JSON.
 */
import { createPlaybook } from "../src/learning/playbook.ts";
import { openMemoryStore } from "../src/memory/open-memory-store.ts";

const [location = "", tag = "w"] = process.argv.slice(2);
const WORDS = ["amber", "basalt", "cobalt", "dune", "ember", "fjord", "garnet", "harbor", "indigo", "jasper"];
const word = (n: number) => `${WORDS[n % 10]}${Math.floor(n / 10)}`;
const store = await openMemoryStore(location);
const playbook = createPlaybook({ store, budgetTokens: 5000 });
const ids: string[] = [];
try {
  for (let i = 0; i < 100; i++) {
    const text =
      i === 0
        ? "Check the units of every column before summing them."
        : `${tag} ${word(i)} ${word(i * 7 + 3)} ${word(i * 13 + 5)} prefer ${word(i * 31 + 11)}`;
    const added = await playbook.add(text, { by: tag });
    const first = added.stored[0];
    if (!first || first.op.type === "ROLLBACK") throw new Error("nothing stored");
    const tagged = await playbook.tag(first.op.bulletId, "helpful", { by: tag });
    ids.push(...added.stored.map((record) => record.id), ...tagged.stored.map((record) => record.id));
  }
  process.stdout.write(JSON.stringify(ids));
} finally {
  await store.close();
}
