import type { CliIo } from "./cli-io.ts";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export interface Progress {
  /** Replaces the status text. */
  update(text: string): void;
  /** Clears the line and stops. */
  stop(): void;
}

/**
 * A spinner with a status line on stderr, only when stderr is a terminal and output is not JSON;
 * otherwise it does nothing, so piped output stays clean.
 */
export function startProgress(io: CliIo, text: string, options: { json?: boolean } = {}): Progress {
  const stream = io.stderr;
  if (!stream.isTTY || options.json) return { update() {}, stop() {} };
  let status = text;
  let frame = 0;
  let stopped = false;
  const draw = () => stream.write(`\r\x1b[2K${FRAMES[frame++ % FRAMES.length]} ${status}`);
  draw();
  const timer = setInterval(draw, 80);
  timer.unref();
  return {
    update(next) {
      if (stopped) return;
      status = next;
      draw();
    },
    stop() {
      if (stopped) return;
      stopped = true;
      clearInterval(timer);
      stream.write("\r\x1b[2K");
    },
  };
}
