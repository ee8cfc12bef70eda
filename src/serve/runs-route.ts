/**
 * The jobs API over any JobQueue (in-process, or PostgreSQL for `rlm worker`s):
 * - `POST /v1/runs`: a chat-completion body plus `context` -> `{id, status}` at once (202).
 * - `GET /v1/runs/{id}`: `{id, status, result, ...}`; `result` is what `rlm run --json` prints, once completed.
 * - `GET /v1/runs/{id}/events`: the run's events as SSE (`id:` is the event's number, so a client that
 *   reconnects with Last-Event-ID gets only what it missed), then one `event: end` with the final status.
 * - `DELETE /v1/runs/{id}`: cancels it.
 * With keys, a run is its key's: another key gets 404, and its usage is booked under the key when it ends.
 */
import type { Context } from "hono";
import { streamSSE } from "hono/streaming";
import type { RunResultJson } from "../engine/run-result-json.ts";
import type { UsageTotals } from "../models/usage.ts";
import { FINAL_JOB_STATUSES, type JobRecord } from "../spec/job-queue.ts";
import { ApiError, badRequest } from "./api-error.ts";
import type { Admission } from "./key-limits.ts";
import { memoryScopeOfKey, parseRunSpec } from "./run-spec.ts";
import { EventSpend, isRunSpendSource } from "./run-spend.ts";
import { admitRun, asApiError, readJsonBody, type ServeContext, type ServeEnv } from "./serve-context.ts";

const ID = /^[\w-]{1,100}$/;

function notFound(id: string): ApiError {
  return new ApiError({
    status: 404,
    code: "run_not_found",
    param: "id",
    message: `No run with id ${id.slice(0, 100)}.`,
  });
}

/** The job, if it exists and (with keys) belongs to the caller's key; else a 404. */
async function ownJob(serve: ServeContext, c: Context<ServeEnv>): Promise<JobRecord> {
  const id = c.req.param("id") ?? "";
  if (!ID.test(id)) throw notFound(id);
  let job: JobRecord | undefined;
  try {
    job = await serve.jobs.get(id);
  } catch (error) {
    throw asApiError(error, serve);
  }
  const key = c.get("key");
  if (job === undefined || (key !== undefined && job.owner !== key.name)) throw notFound(id);
  return job;
}

function runView(job: JobRecord) {
  return {
    id: job.id,
    object: "rlm.run",
    status: job.status,
    createdAt: job.createdAt,
    ...(job.startedAt ? { startedAt: job.startedAt } : {}),
    ...(job.finishedAt ? { finishedAt: job.finishedAt } : {}),
    attempts: job.attempts,
    result: job.result ?? null,
    ...(job.error ? { error: job.error } : {}),
  };
}

/** A run's time limit when its spec names none (the server always sets one). */
const DEFAULT_RUN_WAIT_MS = 600_000;
/** How long past its time limit a cancelled run's executor may take to return its usage. */
const SPEND_GRACE_MS = 60_000;

/**
 * What the job's run spent, also when it ended without a result (cancelled, or a result too large to keep):
 * the executor's own result where it ran in this process, else the sum of the job's stored events (the whole
 * reservation when some were dropped: what they cost is unknown).
 */
async function spendOf(
  serve: ServeContext,
  id: string,
  job: JobRecord | undefined,
  timeoutMs: number | undefined,
  admission: Admission,
): Promise<UsageTotals | undefined> {
  const result = job?.result as RunResultJson | undefined;
  const { jobs } = serve;
  if (isRunSpendSource(jobs)) {
    if (job !== undefined && job.attempts === 0) return undefined; // it never ran
    const waitMs = job === undefined ? 1_000 : (timeoutMs ?? DEFAULT_RUN_WAIT_MS) + SPEND_GRACE_MS;
    const spent = await jobs.runSpend(id, waitMs, serve.shutdown);
    if (spent !== undefined) return spent ?? undefined;
  }
  if (result?.usage?.total) return result.usage.total;
  const folded = new EventSpend();
  for await (const { event } of jobs.events(id, { signal: serve.shutdown })) folded.add(event);
  const usage = folded.total();
  if (!folded.complete && admission.costCap !== undefined) {
    usage.costUsd = Math.max(usage.costUsd ?? 0, admission.costCap);
  }
  return usage;
}

/**
 * Waits for the job's end (no events are read: `after` is past any), then books what its run spent under the
 * key; the key's place and reservation are held until then. Only the model and time limit of the spec are kept
 * meanwhile, not its documents.
 */
async function bookWhenEnded(
  serve: ServeContext,
  id: string,
  run: { model: string; timeoutMs: number | undefined },
  admission: Admission,
) {
  try {
    for await (const _ of serve.jobs.events(id, { after: Number.MAX_SAFE_INTEGER, signal: serve.shutdown })) {
      // none expected
    }
    if (serve.shutdown.aborted) return;
    const job = await serve.jobs.get(id);
    const usage = await spendOf(serve, id, job, run.timeoutMs, admission);
    if (serve.shutdown.aborted) return;
    const result = job?.result as RunResultJson | undefined;
    admission.finish({
      kind: "job",
      id,
      model: run.model,
      status: result?.status ?? job?.status ?? "unknown",
      ...(usage ? { usage } : {}),
    });
  } catch (error) {
    serve.log(`rlm serve: could not follow run ${id} for its usage: ${(error as Error).message}`);
  }
}

export async function submitRunRoute(serve: ServeContext, c: Context<ServeEnv>): Promise<Response> {
  const body = await readJsonBody(c);
  const spec = parseRunSpec(body, serve.config);
  if ((body as { stream?: unknown }).stream === true) {
    throw badRequest(
      "stream",
      "stream is for /v1/chat/completions; follow a run with GET /v1/runs/{id}/events.",
    );
  }
  const key = c.get("key");
  if (key) spec.memoryScope = memoryScopeOfKey(key.name);
  const admission = admitRun(serve, key, spec);
  let job: JobRecord;
  try {
    job = await serve.jobs.submit(spec, key ? { owner: key.name } : {});
  } catch (error) {
    admission?.abandon();
    throw asApiError(error, serve);
  }
  if (admission) {
    void bookWhenEnded(serve, job.id, { model: spec.model, timeoutMs: spec.limits.timeoutMs }, admission);
  }
  return c.json({ id: job.id, object: "rlm.run", status: job.status }, 202);
}

export async function getRunRoute(serve: ServeContext, c: Context<ServeEnv>): Promise<Response> {
  return c.json(runView(await ownJob(serve, c)));
}

export async function cancelRunRoute(serve: ServeContext, c: Context<ServeEnv>): Promise<Response> {
  const job = await ownJob(serve, c);
  let after: JobRecord | undefined;
  try {
    after = await serve.jobs.cancel(job.id);
  } catch (error) {
    throw asApiError(error, serve);
  }
  return c.json(runView(after ?? job));
}

export async function runEventsRoute(serve: ServeContext, c: Context<ServeEnv>): Promise<Response> {
  const job = await ownJob(serve, c);
  const from = c.req.header("last-event-id") ?? c.req.query("after") ?? "0";
  const after = Number(from);
  if (!Number.isSafeInteger(after) || after < 0) {
    throw badRequest("after", "after (or Last-Event-ID) must be an event number of 0 or more.");
  }
  const leave = serve.streams.enter(c.get("key")?.name);
  return streamSSE(c, async (stream) => {
    const gone = new AbortController();
    stream.onAbort(() => gone.abort());
    const signal = AbortSignal.any([c.req.raw.signal, serve.shutdown, gone.signal]);
    const keepAlive = setInterval(() => {
      if (!signal.aborted) void stream.write(": keep-alive\n\n");
    }, serve.keepAliveMs);
    try {
      for await (const event of serve.jobs.events(job.id, { after, signal })) {
        await stream.writeSSE({ id: String(event.seq), data: JSON.stringify(event.event) });
      }
      if (signal.aborted) return;
      const ended = await serve.jobs.get(job.id);
      if (ended && FINAL_JOB_STATUSES.includes(ended.status)) {
        await stream.writeSSE({ event: "end", data: JSON.stringify({ id: ended.id, status: ended.status }) });
      }
    } catch (error) {
      if (!signal.aborted) {
        await stream.writeSSE({ event: "error", data: JSON.stringify(asApiError(error, serve).body) });
      }
    } finally {
      clearInterval(keepAlive);
      leave();
    }
  });
}
