#!/usr/bin/env node
import { processIo } from "./cli-io.ts";
import { runCli } from "./run-cli.ts";

// A reader that goes away (`rlm run ... | head`) is not an error: stop quietly.
for (const stream of [process.stdout, process.stderr]) {
  stream.on("error", (error: NodeJS.ErrnoException) => {
    if (error.code === "EPIPE") process.exit(process.exitCode ?? 0);
    throw error;
  });
}

process.exitCode = await runCli(process.argv.slice(2), processIo());
