import { describeProviders, type ProvidersReport } from "../../models/provider-status.ts";
import { type CliIo, writeLine } from "../cli-io.ts";
import type { Command } from "../command.ts";
import { EXIT } from "../exit-codes.ts";
import { parseOptions } from "../parse-options.ts";
import { startProgress } from "../progress.ts";

const HELP = `Usage: rlm models [--json] [--base-url URL]

Lists the model providers, whether each is configured, which local servers answer,
and the model rlm uses when --model is not given.

Options:
  --base-url URL   an OpenAI-compatible server to check (else OPENAI_COMPATIBLE_BASE_URL)
  --json           print one JSON document on stdout
  -h, --help       show this help`;

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

export const modelsCommand: Command = {
  name: "models",
  summary: "list configured model providers and reachable local servers",
  help: HELP,
  async run(args, io) {
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
  },
};
