import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { describeMemoryStoreConformance } from "../../../../test/memory-store-conformance.ts";
import { openMemoryStore } from "../../open-memory-store.ts";

describeMemoryStoreConformance("sqlite", async () => {
  const dir = mkdtempSync(join(tmpdir(), "rlm-memory-"));
  const location = join(dir, "memory.db");
  return {
    location,
    open: () => openMemoryStore(location),
    dispose: async () => rmSync(dir, { recursive: true, force: true }),
  };
});

describe("sqlite keyword search stays bounded on common words", () => {
  it("ranks a rare word's items first, and the newest items when every word is common", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rlm-memory-"));
    const store = await openMemoryStore(join(dir, "memory.db"));
    try {
      await store.insert([{ kind: "episode", text: "alpha zebra: the rare one" }]);
      await store.insert(
        Array.from({ length: 2500 }, (_, i) => ({ kind: "episode" as const, text: `alpha common ${i}` })),
      );
      const rare = await store.search({ text: "alpha zebra", k: 3 });
      expect(rare[0]?.item.text).toBe("alpha zebra: the rare one");
      const common = await store.search({ text: "alpha", k: 3 });
      expect(common.length).toBe(3);
      expect(common.every((hit) => /alpha common 24\d\d/.test(hit.item.text))).toBe(true);
      const [first] = await store.list({ limit: 1 });
      await store.forget(first?.id ?? "");
      expect((await store.forget(first?.id ?? "")).forgottenAt).toBeTruthy();
      expect((await store.search({ text: "zebra" })).length).toBe(0);
    } finally {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("sqlite memory file", () => {
  it("is the owner's alone when it is created (memories hold what runs read and said), its folder too", async () => {
    const dir = mkdtempSync(join(tmpdir(), "rlm-memory-mode-"));
    try {
      const store = await openMemoryStore(join(dir, "home", "memory.db"));
      await store.insert([{ kind: "episode", text: "a private note" }]);
      await store.close();
      expect(statSync(join(dir, "home")).mode & 0o777).toBe(0o700);
      expect(statSync(join(dir, "home", "memory.db")).mode & 0o777).toBe(0o600);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
