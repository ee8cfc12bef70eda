/**
 * `rlmkit/serve`: the OpenAI-compatible server and the jobs that run behind it, for embedding in your own
 * process. A subpath of its own, so `import "rlmkit"` does not load Hono or pg-boss.
 */
export { createInProcessQueue, type InProcessQueueOptions } from "../jobs/in-process-queue.ts";
export { type JobReport, type JobWorker, type JobWorkerOptions, startJobWorker } from "../jobs/job-worker.ts";
export { createPgBossQueue, type PgBossQueueOptions } from "../jobs/pg-boss-queue.ts";
export type { JobEvent, JobExecutor, JobQueue, JobRecord, JobStatus } from "../spec/job-queue.ts";
export { createServeApp, type ServeAppOptions } from "./app.ts";
export { type ListeningServer, startServeServer } from "./listen.ts";
export {
  createRunExecutor,
  parseRunSpec,
  type RunDocument,
  type RunSpec,
  type ServeConfig,
} from "./run-spec.ts";
