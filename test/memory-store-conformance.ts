import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import { afterEach, describe, expect, it } from "vitest";
import { MemoryError } from "../src/errors/memory-error.ts";
import type { MemoryStore, NewMemoryItem } from "../src/spec/memory-store.ts";

/** A place for one empty store; `open` may be called more than once (each call is a new connection). */
export interface StoreFixture {
  /** What `openMemoryStore` takes: a file path or a postgres:// URL. */
  location: string;
  open(): Promise<MemoryStore>;
  /** Removes what the fixture created. */
  dispose(): Promise<void>;
}

const WRITER = fileURLToPath(new URL("./memory-writer.ts", import.meta.url));

/** Runs `test/memory-writer.ts` in its own process: `count` inserts, one transaction each. */
function runWriter(
  location: string,
  tag: string,
  count: number,
): Promise<{ code: number | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [WRITER, location, tag, String(count)], {
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk) => {
      stderr += chunk;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stderr }));
  });
}

const fact = (text: string, key: string, extra: Partial<NewMemoryItem> = {}): NewMemoryItem => ({
  kind: "fact",
  text,
  key,
  supersedeSameKey: true,
  ...extra,
});

/** The one suite every MemoryStore passes (src/spec/memory-store.ts). */
export function describeMemoryStoreConformance(
  name: string,
  createFixture: () => Promise<StoreFixture>,
): void {
  describe(`memory store conformance: ${name}`, () => {
    let fixture: StoreFixture | undefined;
    const opened: MemoryStore[] = [];

    async function fresh(): Promise<MemoryStore> {
      fixture = await createFixture();
      const store = await fixture.open();
      opened.push(store);
      return store;
    }

    afterEach(async () => {
      for (const store of opened.splice(0)) await store.close();
      await fixture?.dispose();
      fixture = undefined;
    });

    it("round-trips an item with every field", async () => {
      const store = await fresh();
      const [stored] = await store.insert([
        {
          kind: "episode",
          text: "The user moved to Lisbon in spring.",
          key: "user.city",
          scope: "alice",
          source: ["run-1", "notes.txt"],
          metadata: { mood: "glad", n: 3, nested: { ok: true } },
          embedding: [0.25, -0.5, 1],
          validFrom: "2026-03-01T00:00:00Z",
        },
      ]);
      expect(stored?.id).toMatch(/\S/);
      expect(stored?.validFrom).toBe("2026-03-01T00:00:00.000Z");
      const got = await store.get(stored?.id ?? "");
      expect(got).toEqual(stored);
      expect(got).toMatchObject({
        kind: "episode",
        text: "The user moved to Lisbon in spring.",
        key: "user.city",
        scope: "alice",
        source: ["run-1", "notes.txt"],
        metadata: { mood: "glad", n: 3, nested: { ok: true } },
        embedding: [0.25, -0.5, 1],
      });
      expect(got?.validTo).toBeUndefined();
      expect(Number.isNaN(Date.parse(got?.createdAt ?? ""))).toBe(false);
      expect(await store.get("no-such-id")).toBeUndefined();
      expect(await store.count()).toBe(1);
    });

    it("defaults scope, source and metadata, and keeps text exactly (unicode, quotes, newlines)", async () => {
      const store = await fresh();
      const text = `naïve "quoted" 'single' \\ back\nsecond line 🚀 ${"x".repeat(10_000)}`;
      const [stored] = await store.insert([{ kind: "episode", text }]);
      const got = await store.get(stored?.id ?? "");
      expect(got?.text).toBe(text);
      expect(got?.scope).toBe("default");
      expect(got?.source).toEqual([]);
      expect(got?.metadata).toEqual({});
      expect(got?.embedding).toBeUndefined();
    });

    it("ranks keyword matches by relevance and filters by kind and scope", async () => {
      const store = await fresh();
      await store.insert([
        { kind: "episode", text: "We discussed the weather in Berlin and the trains." },
        { kind: "episode", text: "Berlin weather report: rain, rain and more rain in Berlin." },
        { kind: "episode", text: "Paris has museums." },
        { kind: "fact", text: "Berlin is the capital of Germany.", key: "de.capital" },
        { kind: "episode", text: "Berlin weather again", scope: "bob" },
      ]);
      expect((await store.search({ text: "berlin weather", k: 10 })).length).toBe(4);
      const hits = await store.search({ text: "berlin weather", k: 10, scope: "default" });
      expect(hits.length).toBe(3);
      expect(hits[0]?.item.text).toMatch(/^Berlin weather report/);
      expect(hits.every((hit) => hit.keyword > 0)).toBe(true);
      for (let i = 1; i < hits.length; i++)
        expect(hits[i - 1]?.keyword).toBeGreaterThanOrEqual(hits[i]?.keyword ?? 0);
      expect(hits.some((hit) => hit.item.text.startsWith("Paris"))).toBe(false);
      const facts = await store.search({ text: "berlin", kinds: ["fact"] });
      expect(facts.map((hit) => hit.item.key)).toEqual(["de.capital"]);
      const bob = await store.search({ text: "berlin", scope: "bob" });
      expect(bob.map((hit) => hit.item.scope)).toEqual(["bob"]);
      expect((await store.search({ text: "berlin", k: 2 })).length).toBe(2);
    });

    it("takes any text as a keyword query (operators, quotes, punctuation) without error", async () => {
      const store = await fresh();
      await store.insert([{ kind: "episode", text: "error code E42 in module foo-bar (see NEAR/AND)" }]);
      for (const query of [
        '"E42',
        "foo-bar",
        "NEAR(",
        "AND OR NOT",
        "*",
        "e42) OR (",
        "'; drop table x; --",
        "",
      ]) {
        await expect(store.search({ text: query })).resolves.toBeInstanceOf(Array);
      }
      expect((await store.search({ text: "foo-bar" }))[0]?.item.text).toMatch(/foo-bar/);
      expect((await store.search({ text: "E42?" }))[0]?.item.text).toMatch(/E42/);
    });

    it("ranks by vector similarity when embeddings exist", async () => {
      const store = await fresh();
      await store.insert([
        { kind: "episode", text: "north", embedding: [0, 1, 0] },
        { kind: "episode", text: "east", embedding: [1, 0, 0] },
        { kind: "episode", text: "north-east", embedding: [0.7, 0.7, 0] },
        { kind: "episode", text: "no vector" },
      ]);
      const hits = await store.search({ embedding: [0.9, 0.1, 0], k: 3 });
      expect(hits.map((hit) => hit.item.text)).toEqual(["east", "north-east", "north"]);
      expect(hits[0]?.vector).toBeGreaterThan(0.9);
      expect(hits[0]?.vector).toBeLessThanOrEqual(1.0001);
    });

    it("latest fact by key wins; the old one stays in history with validTo and supersededBy", async () => {
      const store = await fresh();
      const [paris] = await store.insert([fact("The user lives in Paris.", "user.city")]);
      const [berlin] = await store.insert([fact("The user lives in Berlin.", "user.city")]);
      const current = await store.list({ key: "user.city", current: true });
      expect(current.map((item) => item.text)).toEqual(["The user lives in Berlin."]);
      const old = await store.get(paris?.id ?? "");
      expect(old?.supersededBy).toBe(berlin?.id);
      expect(old?.validTo).toBe(berlin?.validFrom);
      const history = await store.historyByKey("user.city");
      expect(history.map((item) => item.text)).toEqual([
        "The user lives in Paris.",
        "The user lives in Berlin.",
      ]);
      expect((await store.history(paris?.id ?? "")).map((item) => item.id)).toEqual([paris?.id, berlin?.id]);
      const hits = await store.search({ text: "user lives" });
      expect(hits.map((hit) => hit.item.text)).toEqual(["The user lives in Berlin."]);
    });

    it("a fact that arrives late but is older does not replace the newer one", async () => {
      const store = await fresh();
      const [newer] = await store.insert([
        fact("City: Rome", "user.city", { validFrom: "2026-05-01T00:00:00Z" }),
      ]);
      const [older] = await store.insert([
        fact("City: Oslo", "user.city", { validFrom: "2026-01-01T00:00:00Z" }),
      ]);
      expect(older?.supersededBy).toBe(newer?.id);
      expect(older?.validTo).toBe("2026-05-01T00:00:00.000Z");
      expect((await store.list({ key: "user.city", current: true })).map((item) => item.text)).toEqual([
        "City: Rome",
      ]);
      const past = await store.search({ text: "city", asOf: "2026-02-01T00:00:00Z" });
      expect(past.map((hit) => hit.item.text)).toEqual(["City: Oslo"]);
      const now = await store.search({ text: "city" });
      expect(now.map((hit) => hit.item.text)).toEqual(["City: Rome"]);
    });

    it("keys are per scope and per kind", async () => {
      const store = await fresh();
      await store.insert([fact("alice: tea", "drink", { scope: "alice" })]);
      await store.insert([fact("bob: coffee", "drink", { scope: "bob" })]);
      await store.insert([{ kind: "episode", text: "alice said tea", key: "drink", scope: "alice" }]);
      expect((await store.list({ key: "drink", current: true })).length).toBe(3);
      expect(
        (await store.historyByKey("drink", { scope: "alice", kind: "fact" })).map((item) => item.text),
      ).toEqual(["alice: tea"]);
    });

    it("supersede(id, next) closes the old item in the same step", async () => {
      const store = await fresh();
      const [first] = await store.insert([{ kind: "summary", text: "v1", scope: "p" }]);
      const next = await store.supersede(first?.id ?? "", { kind: "summary", text: "v2", scope: "p" });
      const old = await store.get(first?.id ?? "");
      expect(old?.supersededBy).toBe(next.id);
      expect(old?.validTo).toBe(next.validFrom);
      expect((await store.history(next.id)).map((item) => item.text)).toEqual(["v1", "v2"]);
      await expect(store.supersede(first?.id ?? "", { kind: "summary", text: "v3" })).rejects.toThrow(
        /superseded/,
      );
      await expect(store.supersede("missing", { kind: "summary", text: "x" })).rejects.toBeInstanceOf(
        MemoryError,
      );
    });

    it("forget erases content, keeps a tombstone and an audit annotation", async () => {
      const store = await fresh();
      const [item] = await store.insert([
        { kind: "episode", text: "card 4111 1111 1111 1111", metadata: { a: 1 }, embedding: [1, 0] },
      ]);
      const id = item?.id ?? "";
      const forgotten = await store.forget(id, "user asked");
      expect(forgotten.text).toBe("");
      expect(forgotten.forgetReason).toBe("user asked");
      expect(forgotten.forgottenAt).toBeTruthy();
      expect(forgotten.embedding).toBeUndefined();
      expect(forgotten.metadata).toEqual({});
      expect(await store.get(id)).toEqual(forgotten);
      expect(await store.search({ text: "card 4111" })).toEqual([]);
      expect(await store.search({ embedding: [1, 0] })).toEqual([]);
      expect((await store.annotations(id)).map((note) => note.label)).toContain("forgotten");
      expect(await store.count()).toBe(1);
      await expect(store.forget("missing")).rejects.toThrow(/missing/);
    });

    it("an insert batch is all or nothing", async () => {
      const store = await fresh();
      const [existing] = await store.insert([{ kind: "episode", text: "one" }]);
      await expect(
        store.insert([
          { kind: "episode", text: "two" },
          { kind: "episode", text: "dup", id: existing?.id },
        ]),
      ).rejects.toBeInstanceOf(MemoryError);
      expect(await store.count()).toBe(1);
      await expect(store.insert([{ kind: "nonsense" as "episode", text: "x" }])).rejects.toBeInstanceOf(
        MemoryError,
      );
      await expect(store.insert([{ kind: "episode", text: "x", validFrom: "not a date" }])).rejects.toThrow(
        /validFrom/,
      );
      expect(await store.count()).toBe(1);
    });

    it("lists in insertion order with pagination and annotation filters", async () => {
      const store = await fresh();
      const items = await store.insert(
        Array.from({ length: 25 }, (_, i) => ({ kind: "episode" as const, text: `episode ${i}` })),
      );
      const firstPage = await store.list({ limit: 10 });
      expect(firstPage.map((item) => item.text)).toEqual(items.slice(0, 10).map((item) => item.text));
      const secondPage = await store.list({ limit: 10, after: firstPage.at(-1)?.id });
      expect(secondPage[0]?.text).toBe("episode 10");
      await store.annotate(
        items.slice(0, 20).map((item) => item.id),
        "consolidated",
        { batch: 1 },
      );
      const left = await store.list({ withoutAnnotation: "consolidated" });
      expect(left.map((item) => item.text)).toEqual(items.slice(20).map((item) => item.text));
      const notes = await store.annotations(items[0]?.id ?? "");
      expect(notes).toMatchObject([{ label: "consolidated", data: { batch: 1 } }]);
      expect((await store.list({ kind: "fact" })).length).toBe(0);
    });

    it("loses nothing when 4 processes each insert 500 items at once", async () => {
      const store = await fresh();
      const location = fixture?.location ?? "";
      const writers = await Promise.all(["a", "b", "c", "d"].map((tag) => runWriter(location, tag, 500)));
      for (const writer of writers) expect(writer, writer.stderr).toMatchObject({ code: 0 });
      expect(await store.count()).toBe(2000);
      const all = await store.list({ limit: 5000 });
      expect(new Set(all.map((item) => item.text)).size).toBe(2000);
      // Every writer also updated one shared key; exactly one version is current.
      expect((await store.list({ key: "shared.counter", current: true })).length).toBe(1);
    }, 120_000);
  });
}
