/**
 * `POST /v1/chat/completions`: one run per request, executed in this process (in a run slot), never through
 * the job queue, so a reply waits for no worker. Non-streaming: one `chat.completion`. Streaming: SSE as the
 * OpenAI API sends it (a first chunk with the role at once, progress as SSE comments and keep-alives while the
 * run works, the answer as content deltas, the finish chunk, a usage chunk with `choices: []` when
 * `stream_options.include_usage` is set, then `data: [DONE]`). A client that goes away cancels its run.
 */
import { randomUUID } from "node:crypto";
import type { Context } from "hono";
import { type SSEStreamingApi, streamSSE } from "hono/streaming";
import type { RunResultJson } from "../engine/run-result-json.ts";
import { ApiError } from "./api-error.ts";
import {
  chatCompletion,
  chunk,
  completionUsage,
  contentPieces,
  progressLine,
  replyOf,
  runFacts,
} from "./completion-shapes.ts";
import type { Admission } from "./key-limits.ts";
import type { RunTicket } from "./run-slots.ts";
import { memoryScopeOfKey, parseRunSpec, type RunSpec } from "./run-spec.ts";
import { admitRun, asApiError, readJsonBody, type ServeContext, type ServeEnv } from "./serve-context.ts";

interface Started {
  spec: RunSpec;
  ticket: RunTicket;
  admission: Admission | undefined;
  id: string;
  created: number;
}

/** Runs the spec once its slot is free, under `signal`; the slot and the key's place are given back after. */
async function execute(
  serve: ServeContext,
  started: Started,
  signal: AbortSignal,
  emit: (event: unknown) => void,
): Promise<RunResultJson> {
  let result: RunResultJson | undefined;
  try {
    await started.ticket.ready;
    result = (await serve.executor(started.spec, {
      jobId: started.id,
      attempt: 1,
      signal,
      emit,
    })) as RunResultJson;
    return result;
  } finally {
    started.ticket.release();
    started.admission?.finish({
      kind: "chat",
      id: started.id,
      model: started.spec.model,
      status: result?.status ?? "cancelled",
      ...(result ? { usage: result.usage.total } : {}),
    });
  }
}

export async function chatCompletionsRoute(serve: ServeContext, c: Context<ServeEnv>): Promise<Response> {
  const body = await readJsonBody(c);
  const spec = parseRunSpec(body, serve.config);
  const key = c.get("key");
  // A key's runs remember in a scope of their own (the server's memory, when it has one).
  if (key) spec.memoryScope = memoryScopeOfKey(key.name);
  const fields = body as { stream?: boolean; stream_options?: { include_usage?: boolean } | null };
  // The request's signal aborts when the client goes away; the server's, when it shuts down.
  const signal = AbortSignal.any([c.req.raw.signal, serve.shutdown]);
  const ticket = serve.slots.enter(signal);
  let admission: Admission | undefined;
  try {
    admission = admitRun(serve, key, spec);
  } catch (error) {
    ticket.release();
    throw error;
  }
  const started: Started = {
    spec,
    ticket,
    admission,
    id: `chatcmpl-${randomUUID()}`,
    created: Math.floor(Date.now() / 1000),
  };
  if (fields.stream !== true) {
    let result: RunResultJson;
    try {
      result = await execute(serve, started, signal, () => {});
    } catch (error) {
      if (signal.aborted)
        throw new ApiError({ status: 503, code: "run_cancelled", message: "The run was cancelled." });
      throw asApiError(error, serve);
    }
    const reply = replyOf(result);
    return c.json(
      chatCompletion({ id: started.id, created: started.created, model: spec.modelName }, result, reply),
    );
  }
  const meta = {
    id: started.id,
    created: started.created,
    model: spec.modelName,
    includeUsage: fields.stream_options?.include_usage === true,
  };
  // The conversation stays in memory while the run works: the body's hold lasts as long as the stream.
  const releaseBody = c.get("bodyHold")?.keep() ?? (() => {});
  return streamSSE(c, async (stream) => {
    try {
      await streamRun(serve, c, started, meta, signal, stream);
    } finally {
      releaseBody();
    }
  });
}

/** The SSE reply of a streaming request: the role chunk, progress comments, the answer, usage, [DONE]. */
async function streamRun(
  serve: ServeContext,
  c: Context<ServeEnv>,
  started: Started,
  meta: { id: string; created: number; model: string; includeUsage: boolean },
  signal: AbortSignal,
  stream: SSEStreamingApi,
): Promise<void> {
  const gone = new AbortController();
  stream.onAbort(() => gone.abort());
  const runSignal = AbortSignal.any([signal, gone.signal]);
  // SSE comments (": ...") carry keep-alives and progress; clients skip them. hono's writeSSE has no comments.
  const comment = (text: string) => {
    if (!runSignal.aborted) void stream.write(`: ${text.replace(/[\r\n]/g, " ")}\n\n`);
  };
  await stream.writeSSE({
    data: chunk(meta, [
      { index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null },
    ]),
  });
  const keepAlive = setInterval(() => comment("keep-alive"), serve.keepAliveMs);
  let result: RunResultJson | undefined;
  let failure: ApiError | undefined;
  try {
    result = await execute(serve, started, runSignal, (event) => {
      const line = progressLine(event);
      if (line !== undefined) comment(`rlm-progress ${line}`);
    });
  } catch (error) {
    failure = runSignal.aborted ? undefined : asApiError(error, serve);
  } finally {
    clearInterval(keepAlive);
  }
  if (gone.signal.aborted || c.req.raw.signal.aborted) return; // nobody is listening
  let reply: ReturnType<typeof replyOf> | undefined;
  if (result !== undefined && failure === undefined) {
    try {
      reply = replyOf(result);
    } catch (error) {
      failure = asApiError(error, serve);
    }
  }
  if (reply === undefined || result === undefined) {
    // Mid-stream failures go as an error object, which the OpenAI clients raise as an APIError.
    const error =
      failure ?? new ApiError({ status: 503, code: "run_cancelled", message: "The run was cancelled." });
    await stream.writeSSE({ data: JSON.stringify(error.body) });
    return;
  }
  for (const piece of contentPieces(reply.content)) {
    await stream.writeSSE({
      data: chunk(meta, [{ index: 0, delta: { content: piece }, logprobs: null, finish_reason: null }]),
    });
  }
  await stream.writeSSE({
    data: chunk(meta, [{ index: 0, delta: {}, logprobs: null, finish_reason: reply.finish }], {
      rlm: runFacts(result),
    }),
  });
  if (meta.includeUsage) await stream.writeSSE({ data: chunk(meta, [], { usage: completionUsage(result) }) });
  await stream.writeSSE({ data: "[DONE]" });
}
