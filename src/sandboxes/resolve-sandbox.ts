import { ConfigError } from "../errors/config-error.ts";
import type { Sandbox, SandboxLimits } from "../spec/sandbox.ts";
import { createIsolatedVmSandbox } from "./isolated-vm/isolated-vm-sandbox.ts";
import { createPythonSandbox } from "./python/python-sandbox.ts";

export interface SandboxChoice {
  limits?: SandboxLimits;
  /** For the Python sandbox: a folder of Pyodide packages (wheels + pyodide-lock.json) it may load. */
  pythonPackages?: string;
}

type SandboxFactory = (choice: SandboxChoice) => Sandbox;

const SANDBOXES: Record<string, SandboxFactory> = {
  "isolated-vm": (choice) => createIsolatedVmSandbox(choice.limits),
  python: (choice) =>
    createPythonSandbox({
      ...(choice.limits ? { limits: choice.limits } : {}),
      ...(choice.pythonPackages ? { packagesDirectory: choice.pythonPackages } : {}),
    }),
};

const ALIASES: Record<string, string> = {
  js: "isolated-vm",
  javascript: "isolated-vm",
  default: "isolated-vm",
};

export const SANDBOX_NAMES = Object.keys(SANDBOXES);

/** The one place a `--sandbox` name becomes a Sandbox. */
export function resolveSandbox(name = "isolated-vm", choice: SandboxChoice = {}): Sandbox {
  const factory = SANDBOXES[ALIASES[name] ?? name];
  if (factory === undefined) {
    throw new ConfigError({
      message: `Unknown sandbox "${name}". Known sandboxes: ${SANDBOX_NAMES.join(", ")} (aliases: ${Object.keys(ALIASES).join(", ")}).`,
    });
  }
  return factory(choice);
}
