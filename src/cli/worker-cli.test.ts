/**
 * `rlm worker` as real processes on a real PostgreSQL: two workers share 40 queued runs, one is killed
 * (SIGKILL) half-way, and every run ends exactly once with its result; a run whose only attempt dies with the
 * worker fails with the reason. The model is the scripted OpenAI-compatible server (one per worker, so the
 * test knows which worker asked). And the whole path a user takes: `rlm serve --db` queues what its /v1/runs
 * receives, an `rlm worker` runs it, the server shows its result and events and cancels a queued run; both
 * export their runs' spans with --otel.
 */
import { hostname } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import pg from "pg";
import { describe, expect, it } from "vitest";
import { startOtlpReceiver } from "../../test/otlp-receiver.ts";
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

function startWorker(
  modelUrl: string,
  options: { db?: string; concurrency?: number; flags?: string[] } = {},
) {
  const worker = startRlm([
    "worker",
    "--db",
    options.db ?? postgres.url,
    "--model",
    MODEL,
    "--base-url",
    modelUrl,
    "--max-concurrent-runs",
    String(options.concurrency ?? 3),
    "--poll-interval",
    "0.5",
    ...(options.flags ?? []),
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

/** The SSE messages of a finished stream: each `event:` (default "message"), `id:` and `data:`. */
function sseMessages(text: string): Array<{ event: string; id?: string; data: string }> {
  return text
    .split("\n\n")
    .map((block) => block.split("\n").filter((line) => line !== "" && !line.startsWith(":")))
    .filter((lines) => lines.length > 0)
    .map((lines) => {
      const field = (name: string) =>
        lines
          .find((line) => line.startsWith(`${name}:`))
          ?.slice(name.length + 1)
          .trimStart();
      const id = field("id");
      return {
        event: field("event") ?? "message",
        ...(id === undefined ? {} : { id }),
        data: field("data") ?? "",
      };
    });
}

/** What /v1/runs answers, as far as the test reads it. */
interface RunView {
  id: string;
  status: string;
  attempts: number;
  result: { status: string; answer: unknown; runId: string } | null;
}

describe("rlm serve --db with rlm worker", () => {
  it("a run posted to the server runs on a worker: its result, its events, its spans; a queued run is cancelled", async () => {
    await using model = await startScriptedServer({
      replies: (request) =>
        JSON.stringify(request.body?.messages ?? []).includes("hold the worker")
          ? new Promise<never>(() => {})
          : { text: repl("FINAL(JSON.stringify(context).match(/code is (\\w+)/)[1])") },
    });
    await using receiver = await startOtlpReceiver();
    // A database of its own: the test above counts every job of its queue.
    const db = await postgres.server.createDatabase();
    const server = startRlm([
      ...["serve", "--db", db, "--port", "0", "--model", MODEL, "--base-url", model.url],
      ...["--otel", receiver.url],
    ]);
    // The operator asks for content on the worker's spans, not on the server's.
    const worker = startWorker(model.url, {
      db,
      concurrency: 1,
      flags: ["--otel", receiver.url, "--otel-content"],
    });
    try {
      await until(() => server.stdout().includes("\n") || server.child.exitCode !== null);
      await until(() => worker.stderr().includes("taking runs") || worker.child.exitCode !== null);
      const base = server.stdout().trim();
      expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/v1$/);
      expect(server.stderr()).toContain("runs queued in PostgreSQL");
      const api = async (method: string, path: string, body?: object) => {
        const response = await fetch(`${base}${path}`, {
          method,
          headers: { "content-type": "application/json" },
          ...(body ? { body: JSON.stringify(body) } : {}),
        });
        return { status: response.status, json: (await response.json()) as RunView };
      };
      const submit = (question: string, context?: string) =>
        api("POST", "/runs", {
          model: "rlm",
          messages: [{ role: "user", content: question }],
          ...(context ? { context } : {}),
        });

      const posted = await submit("What is the code?", `log start\nthe code is amber4417\nlog end`);
      expect(posted).toMatchObject({ status: 202, json: { status: "queued" } });
      const id = posted.json.id as string;
      let run = await api("GET", `/runs/${id}`);
      while (run.json.status === "queued" || run.json.status === "running") {
        await sleep(50);
        run = await api("GET", `/runs/${id}`);
      }
      expect(run.json).toMatchObject({
        id,
        status: "completed",
        attempts: 1,
        result: { status: "completed" },
      });
      expect(run.json.result?.answer).toBe("amber4417");
      expect(worker.stderr()).toContain(`run ${id} completed (attempt 1,`);

      const stream = await fetch(`${base}/runs/${id}/events`);
      expect(stream.headers.get("content-type")).toContain("text/event-stream");
      const messages = sseMessages(await stream.text());
      expect(messages.at(-1)).toEqual({ event: "end", data: JSON.stringify({ id, status: "completed" }) });
      const events = messages.slice(0, -1).map((message) => JSON.parse(message.data));
      expect(messages.slice(0, -1).map((message) => message.id)).toEqual(
        events.map((_, index) => String(index + 1)),
      );
      expect(events[0]).toMatchObject({ type: "run-start", runId: run.json.result?.runId });
      expect(events.at(-1)).toMatchObject({
        type: "run-end",
        runId: run.json.result?.runId,
        answer: "amber4417",
      });
      expect(events.map((event) => event.type)).toContain("iteration-end");

      // The worker's one slot held by a run whose model never answers: the next run stays queued.
      const held = (await submit("hold the worker")).json.id as string;
      await until(() =>
        JSON.stringify(model.requests.map((request) => request.body)).includes("hold the worker"),
      );
      const queued = (await submit("never run")).json.id as string;
      expect((await api("GET", `/runs/${queued}`)).json.status).toBe("queued");
      expect(await api("DELETE", `/runs/${queued}`)).toMatchObject({
        status: 200,
        json: { status: "cancelled" },
      });
      expect((await api("GET", `/runs/${queued}`)).json).toMatchObject({ status: "cancelled", attempts: 0 });
      // A running run is cancelled too: the worker hears it and ends its run.
      expect((await api("DELETE", `/runs/${held}`)).json.status).toBe("cancelled");
      await until(() => worker.stderr().includes(`run ${held} cancelled`));
      expect(JSON.stringify(model.requests.map((request) => request.body))).not.toContain("never run");

      // A chat completion runs in the server's own process, and is exported from there.
      const chat = await fetch(`${base}/chat/completions`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ model: "rlm", messages: [{ role: "user", content: "the code is violet9" }] }),
      });
      const completion = (await chat.json()) as {
        choices: Array<{ message: { content: string } }>;
        rlm: { runId: string };
      };
      expect(completion.choices[0]?.message.content).toBe("violet9");

      server.child.kill("SIGTERM");
      worker.child.kill("SIGTERM");
      expect(await server.exited).toBe(0);
      expect(await worker.exited).toBe(0);
      // Closing flushed both sinks: each run is its own trace, an invoke_agent span with its chat spans.
      for (const runId of [run.json.result?.runId, completion.rlm.runId]) {
        const root = receiver.spans.find(
          (span) => span.attributes["rlm.run_id"] === runId && span.parentSpanId === "",
        );
        expect(root?.attributes["gen_ai.operation.name"]).toBe("invoke_agent");
        const chats = receiver.spans.filter(
          (span) => span.traceId === root?.traceId && span.attributes["gen_ai.operation.name"] === "chat",
        );
        expect(chats.length).toBeGreaterThan(0);
        expect(chats[0]?.attributes["gen_ai.usage.input_tokens"]).toBeGreaterThan(0);
      }
      const bodies = receiver.bodies.join("\n");
      expect(bodies).toContain("amber4417");
      expect(bodies).not.toContain("violet9");
      expect(server.stderr()).toContain(`rlm serve: OpenTelemetry spans go to ${receiver.url}/v1/traces`);
    } finally {
      server.child.kill("SIGKILL");
      worker.child.kill("SIGKILL");
    }
  }, 30_000);
});
