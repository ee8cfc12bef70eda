import { ConfigError } from "../errors/config-error.ts";
import type { Sandbox, SandboxLimits } from "../spec/sandbox.ts";
import { createIsolatedVmSandbox } from "./isolated-vm/isolated-vm-sandbox.ts";
import { createPythonSandbox } from "./python/python-sandbox.ts";

type SandboxFactory = (limits: SandboxLimits) => Sandbox;

const SANDBOXES: Record<string, SandboxFactory> = {
  "isolated-vm": createIsolatedVmSandbox,
  python: (limits) => createPythonSandbox({ limits }),
};

const ALIASES: Record<string, string> = {
  js: "isolated-vm",
  javascript: "isolated-vm",
  default: "isolated-vm",
};

export const SANDBOX_NAMES = Object.keys(SANDBOXES);

/** The one place a `--sandbox` name becomes a Sandbox. */
export function resolveSandbox(name = "isolated-vm", limits: SandboxLimits = {}): Sandbox {
  const factory = SANDBOXES[ALIASES[name] ?? name];
  if (factory === undefined) {
    throw new ConfigError({
      message: `Unknown sandbox "${name}". Known sandboxes: ${SANDBOX_NAMES.join(", ")} (aliases: ${Object.keys(ALIASES).join(", ")}).`,
    });
  }
  return factory(limits);
}
