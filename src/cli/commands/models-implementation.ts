/** The implementation of `rlm models`, loaded only when the command runs (see ./models-command.ts). */
import { describeProviders, type ProvidersReport } from "../../models/provider-status.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import { EXIT } from "../exit-codes.ts";
import { parseOptions } from "../parse-options.ts";
import { startProgress } from "../progress.ts";

function formatReport(report: ProvidersReport, io: CliIo): void {
  const width = Math.max(...report.providers.map((status) => status.provider.length)) + 2;
  for (const status of report.providers) {
    // A configured server that does not answer is not ready: ✗, never a check mark.
    const mark = status.reachable === false && status.configured ? "✗" : status.configured ? "✓" : "·";
    writeLine(io.stdout, `${mark} ${status.provider.padEnd(width)}${status.detail}`);
    for (const model of status.models) writeLine(io.stdout, `    ${model}`);
    if (status.hint && !status.configured) writeLine(io.stdout, `    ${status.hint}`);
  }
  writeLine(io.stdout);
  if (report.defaultModel !== null) writeLine(io.stdout, `default model: ${report.defaultModel}`);
  else writeLine(io.stdout, `default model: none\n${report.defaultModelError ?? ""}`);
}

/** Runs `rlm models` and resolves to its exit code. */
export async function run(args: string[], io: CliIo): Promise<number> {
  const { values } = parseOptions("models", args, {
    json: { type: "boolean" },
    "base-url": { type: "string" },
  });
  const progress = startProgress(io, "checking providers", { json: values.json });
  const report = await describeProviders({ env: io.env, baseUrl: values["base-url"] }).finally(() =>
    progress.stop(),
  );
  if (values.json) writeLine(io.stdout, JSON.stringify(report, null, 2));
  else formatReport(report, io);
  return EXIT.ok;
}
