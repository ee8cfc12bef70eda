/** Exit codes shared by every command. */
export const EXIT = {
  /** The command did what was asked. */
  ok: 0,
  /** The run failed (a model error, a limit, a cancelled run). */
  failed: 1,
  /** Bad usage or bad input: the fix is on the caller's side. */
  usage: 2,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];
