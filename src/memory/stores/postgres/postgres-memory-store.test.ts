import { createServer } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { describeMemoryStoreConformance } from "../../../../test/memory-store-conformance.ts";
import { type PostgresServer, startPostgresServer } from "../../../../test/postgres-server.ts";
import { MemoryError } from "../../../errors/memory-error.ts";
import type { MemoryStore } from "../../../spec/memory-store.ts";
import { openMemoryStore } from "../../open-memory-store.ts";

let server: PostgresServer;

beforeAll(async () => {
  server = await startPostgresServer();
}, 120_000);

afterAll(async () => {
  await server?.stop();
}, 60_000);

describeMemoryStoreConformance("postgres", async () => {
  const url = await server.createDatabase();
  return { location: url, open: () => openMemoryStore(url), dispose: async () => {} };
});

/** A loopback port nothing listens on. */
function closedPort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, "127.0.0.1", () => {
      const address = probe.address();
      probe.close(() => resolve(typeof address === "object" && address ? address.port : 9));
    });
  });
}

describe("postgres memory store", () => {
  it("fails to open with one clear line that names the server but not the password", async () => {
    const port = await closedPort();
    const error = await openMemoryStore(`postgres://alice:s3cret@127.0.0.1:${port}/memories`).catch((e) => e);
    expect(error).toBeInstanceOf(MemoryError);
    expect(error.reason).toBe("unavailable");
    expect(error.message).toBe(
      `cannot open memory store postgres://alice@127.0.0.1:${port}/memories: connection refused`,
    );
    expect(String(error.stack)).not.toContain("s3cret");
  });

  it("names a database that does not exist", async () => {
    const url = server.url.replace(/\/postgres$/, "/no_such_db");
    await expect(openMemoryStore(url)).rejects.toThrow(
      /cannot open memory store .*no_such_db.*does not exist/,
    );
  });

  it("creates its schema once when 4 stores open at once", async () => {
    const url = await server.createDatabase();
    const stores = await Promise.all(Array.from({ length: 4 }, () => openMemoryStore(url)));
    try {
      const [first, second] = stores as [MemoryStore, MemoryStore];
      const [item] = await first.insert([{ kind: "episode", text: "shared schema" }]);
      expect(await second.get(item?.id ?? "")).toEqual(item);
      expect(first.location).toBe(url);
    } finally {
      for (const store of stores) await store.close();
    }
  });

  it("without pgvector, warns once when embeddings are first used and still ranks by vector", async () => {
    const url = await server.createDatabase();
    const warnings: string[] = [];
    const store = await openMemoryStore(url, { warn: (line) => warnings.push(line) });
    try {
      if (store.vectorSearch) return;
      await store.insert([{ kind: "episode", text: "plain" }]);
      expect(warnings).toEqual([]);
      await store.insert([{ kind: "episode", text: "vector", embedding: [1, 0] }]);
      await store.search({ embedding: [1, 0] });
      expect(warnings).toHaveLength(1);
      expect(warnings[0]).toMatch(/pgvector/);
      expect((await store.search({ embedding: [1, 0] }))[0]?.vector).toBeCloseTo(1);
    } finally {
      await store.close();
    }
  });

  it("imports a large batch in one transaction: a duplicate id at the end stores nothing", async () => {
    const url = await server.createDatabase();
    const store = await openMemoryStore(url);
    try {
      const items = Array.from({ length: 5000 }, (_, i) => ({
        kind: "episode" as const,
        text: `imported note ${i}`,
        id: `note-${i}`,
        source: ["import"],
        validFrom: "2025-01-01T00:00:00Z",
      }));
      await expect(
        store.insert([...items, { kind: "episode", text: "again", id: "note-0" }]),
      ).rejects.toThrow(/note-0.*already exists/);
      expect(await store.count()).toBe(0);
      const started = Date.now();
      await store.insert(items);
      expect(Date.now() - started).toBeLessThan(15_000);
      expect(await store.count()).toBe(5000);
      await expect(store.insert([{ kind: "episode", text: "x", id: "note-4999" }])).rejects.toMatchObject({
        reason: "conflict",
      });
    } finally {
      await store.close();
    }
  });

  it("batches that share keys in opposite orders neither deadlock nor leave two current versions", async () => {
    const url = await server.createDatabase();
    const [one, two] = await Promise.all([openMemoryStore(url), openMemoryStore(url)]);
    try {
      const batch = (keys: string[], tag: string) =>
        keys.map((key) => ({ kind: "fact" as const, text: `${tag} ${key}`, key, supersedeSameKey: true }));
      const keys = ["a", "b", "c", "d"];
      await Promise.all(
        Array.from({ length: 20 }, (_, round) =>
          round % 2 === 0
            ? one?.insert(batch(keys, `one ${round}`))
            : two?.insert(batch([...keys].reverse(), `two ${round}`)),
        ),
      );
      for (const key of keys) expect(await one?.list({ key, current: true })).toHaveLength(1);
      expect(await one?.count()).toBe(80);
    } finally {
      await one?.close();
      await two?.close();
    }
  });

  it("refuses text PostgreSQL cannot hold with a MemoryError, not a driver error", async () => {
    const url = await server.createDatabase();
    const store = await openMemoryStore(url);
    try {
      await expect(store.insert([{ kind: "episode", text: "nul \u0000 byte" }])).rejects.toMatchObject({
        reason: "invalid",
      });
      expect(await store.count()).toBe(0);
    } finally {
      await store.close();
    }
  });
});
