/**
 * The worker thread that runs grep for guest code, so a slow regular expression never blocks the host's event
 * loop and can be stopped by terminating the thread (V8 interrupts a running regular expression on terminate).
 * It receives the context once, at start, and keeps it for every later call.
 */
import { parentPort, workerData } from "node:worker_threads";
import { type Corpus, grepCorpus, grepFile } from "./grep-core.ts";
import type { GrepJob, GrepReply } from "./grep-runner.ts";

const corpus = ((workerData as { corpus?: Corpus } | undefined)?.corpus ?? "") as Corpus;

function run(id: number, job: GrepJob): GrepReply {
  if (job.kind === "context") return { id, matches: grepCorpus(corpus, job.query) };
  if (job.kind === "text") return { id, matches: grepCorpus(job.text, job.query) };
  const blocks = job.file.blockStarts.length;
  const matches = grepFile(job.file, job.query, (done) =>
    parentPort?.postMessage({ id, progress: { done, blocks } }),
  );
  return { id, matches };
}

parentPort?.on("message", ({ id, job }: { id: number; job: GrepJob }) => {
  let reply: GrepReply;
  try {
    reply = run(id, job);
  } catch (error) {
    const { name, message } = error instanceof Error ? error : new Error(String(error));
    reply = { id, error: { name, message } };
  }
  parentPort?.postMessage(reply);
});
