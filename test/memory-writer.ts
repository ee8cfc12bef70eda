/**
 * One writer process of the memory store conformance suite: `node memory-writer.ts LOCATION TAG COUNT`
 * opens the store and inserts COUNT items, one transaction each; every tenth is a fact under one key shared by
 * all writers, so writers also race on supersession.
 */
import { openMemoryStore } from "../src/memory/open-memory-store.ts";

const [location = "", tag = "w", countText = "0"] = process.argv.slice(2);
const store = await openMemoryStore(location);
try {
  for (let i = 0; i < Number(countText); i++) {
    const item =
      i % 10 === 0
        ? { kind: "fact" as const, text: `${tag} ${i}`, key: "shared.counter", supersedeSameKey: true }
        : { kind: "episode" as const, text: `${tag} ${i}` };
    await store.insert([item]);
  }
} finally {
  await store.close();
}
