/**
 * `rlm worker` as real processes on a real PostgreSQL: two workers share 40 queued runs, one is killed
 * (SIGKILL) half-way, and every run ends exactly once with its result; a run whose only attempt dies with the
 * worker fails with the reason. The model is the scripted OpenAI-compatible server (one per worker, so the
 * test knows which worker asked).
 */
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { usePostgresDatabase } from "../../test/postgres-server.ts";
import { runRlmHere, startRlm, until } from "../../test/rlm-process.ts";
import { createPgBossQueue } from "../jobs/pg-boss-queue.ts";
import { parseRunSpec } from "../serve/run-spec.ts";
import type { JobQueue } from "../spec/job-queue.ts";
import { type RecordedRequest, startScriptedServer } from "../test/scripted-server.ts";

const MODEL = "openai-compatible:scripted";
const repl = (code: string) => `\`\`\`repl\n${code}\n\`\`\``;
const spec = (question: string) =>
  parseRunSpec({ model: "rlm", messages: [{ role: "user", content: question }] }, { models: [MODEL] });

/**
 * Each run is one model call: a reply with FINAL after a pause, so runs are in flight when the kill comes.
 * `waiting` holds the questions whose reply has not been sent: runs that cannot have ended yet.
 */
function replies(waiting: Set<number>) {
  return async (request: RecordedRequest) => {
    const text = JSON.stringify(request.body?.messages ?? []);
    if (text.includes("question-stuck")) return new Promise<never>(() => {});
    const question = Number(/question-(\d+)/.exec(text)?.[1]);
    waiting.add(question);
    await sleep(300);
    waiting.delete(question);
    return { text: repl(`FINAL("answer ${question}")`) };
  };
}

const postgres = usePostgresDatabase();

function startWorker(modelUrl: string) {
  const worker = startRlm([
    "worker",
    "--db",
    postgres.url,
    "--model",
    MODEL,
    "--base-url",
    modelUrl,
    "--max-concurrent-runs",
    "3",
    "--poll-interval",
    "0.5",
  ]);
  return { ...worker, name: `${hostname()}:${worker.child.pid}` };
}

describe("rlm worker", () => {
  it("two workers share 40 runs; one killed half-way, every run ends exactly once with its result", async () => {
    const waitingOnA = new Set<number>();
    await using modelA = await startScriptedServer({ replies: replies(waitingOnA) });
    await using modelB = await startScriptedServer({ replies: replies(new Set()) });
    // The test's own queues look for silent workers every second (users' default: every 15 s).
    const fast = { url: postgres.url, heartbeatSeconds: 10, superviseIntervalSeconds: 1 };
    const queue: JobQueue = await createPgBossQueue(fast);
    const oneAttempt: JobQueue = await createPgBossQueue({ ...fast, maxAttempts: 1 });
    const db = new pg.Client({ connectionString: postgres.url });
    await db.connect();
    const workerA = startWorker(modelA.url);
    let workerB: ReturnType<typeof startWorker> | undefined;
    try {
      await until(() => workerA.stderr().includes("taking runs") || workerA.child.exitCode !== null);
      expect(workerA.stderr()).toContain(`rlm worker ${workerA.name}: taking runs from`);
      // A run that hangs on worker A, with no attempt to spare.
      const stuck = await oneAttempt.submit(spec("question-stuck"));
      await until(() =>
        modelA.requests.some((request) => JSON.stringify(request.body).includes("question-stuck")),
      );
      workerB = startWorker(modelB.url);
      await until(() => workerB?.stderr().includes("taking runs") || workerB?.child.exitCode !== null);

      const runs = await Promise.all(
        Array.from({ length: 40 }, (_, index) => queue.submit(spec(`question-${index}`))),
      );
      const ids = runs.map((run) => run.id);
      let inFlightOnA: string[] = [];
      for (;;) {
        const { rows } = await db.query(
          "SELECT count(*)::int AS n FROM jobs_records WHERE id = ANY($1) AND status = 'completed'",
          [ids],
        );
        const completed = (rows[0] as { n: number }).n;
        // Killed in the same tick as the check: the runs still waiting for their model reply cannot have ended.
        if (completed >= 20 && waitingOnA.size > 0) {
          workerA.child.kill("SIGKILL");
          inFlightOnA = [...waitingOnA].map((question) => ids[question] as string);
          break;
        }
        if (completed === 40) throw new Error("every run ended before worker A could be killed mid-run");
        await sleep(25);
      }
      await workerA.exited;

      const unfinished = async () =>
        (await db.query("SELECT count(*)::int AS n FROM jobs_records WHERE status IN ('queued', 'running')"))
          .rows[0].n as number;
      const deadline = Date.now() + 40_000;
      while ((await unfinished()) > 0 && Date.now() < deadline) await sleep(100);

      for (const [index, run] of runs.entries()) {
        const record = await queue.get(run.id);
        expect(record?.status, `run ${index}`).toBe("completed");
        expect(record?.result).toMatchObject({ answer: `answer ${index}`, status: "completed" });
      }
      // The runs the kill interrupted started again on worker B and ended there.
      const { rows: retried } = await db.query(
        "SELECT id, attempts, worker FROM jobs_records WHERE id = ANY($1)",
        [inFlightOnA],
      );
      expect(retried).toHaveLength(inFlightOnA.length);
      for (const row of retried) expect(row).toMatchObject({ attempts: 2, worker: workerB?.name });
      expect(workerB?.stderr()).toContain(`${inFlightOnA[0]} completed (attempt 2,`);

      const stuckRecord = await oneAttempt.get(stuck.id);
      expect(stuckRecord).toMatchObject({
        status: "failed",
        error: "the worker running it stopped 1 time",
        attempts: 1,
      });

      // Every try to end a job is logged in the statement that ends it: exactly one took, per job.
      const { rows: endings } = await db.query(
        `SELECT r.id, count(e.*) FILTER (WHERE e.applied)::int AS applied,
                count(e.*) FILTER (WHERE e.applied AND e.status = 'completed')::int AS completed
         FROM jobs_records r LEFT JOIN jobs_endings e ON e.job_id = r.id GROUP BY r.id`,
      );
      expect(endings).toHaveLength(41);
      for (const row of endings) {
        expect(row.applied, row.id).toBe(1);
        expect(row.completed).toBe(row.id === stuck.id ? 0 : 1);
      }
      const { rows: states } = await db.query(
        "SELECT state, count(*)::int AS n FROM pgboss.job WHERE name = 'rlm-runs' GROUP BY state ORDER BY state",
      );
      expect(states).toEqual([
        { state: "completed", n: 40 },
        { state: "failed", n: 1 },
      ]);

      workerB?.child.kill("SIGTERM");
      expect(await workerB?.exited).toBe(0);
      expect(workerB?.stderr()).toMatch(/SIGTERM, taking no more runs[\s\S]*rlm worker: stopped/);
    } finally {
      workerA.child.kill("SIGKILL");
      workerB?.child.kill("SIGKILL");
      await db.end();
      await queue.close();
      await oneAttempt.close();
    }
  }, 90_000);

  it("refuses a --db that is not PostgreSQL, and a missing --db or --model, with one line each", async () => {
    const home = "/nonexistent-rlm-home";
    const sqlite = await runRlmHere(["worker", "--db", "memory.db", "--model", MODEL], home);
    expect(sqlite.code).toBe(2);
    expect(sqlite.stderr.trim().split("\n")).toHaveLength(1);
    expect(sqlite.stderr).toMatch(/--db takes a PostgreSQL URL .*got "memory\.db"/);
    const noDb = await runRlmHere(["worker", "--model", MODEL], home);
    expect(noDb).toMatchObject({
      code: 2,
      stderr: expect.stringMatching(/--db postgres:\/\/\.\.\. is required/),
    });
    const noModel = await runRlmHere(["worker", "--db", "postgres://u:secret-pw@127.0.0.1:9/x"], home);
    expect(noModel).toMatchObject({ code: 2, stderr: expect.stringMatching(/--model SPEC is required/) });
  });
});
