import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { describeSandboxConformance, PYTHON } from "../../../test/sandbox-conformance.ts";
import { createPythonSandbox, warmPythonSandbox } from "./python-sandbox.ts";

warmPythonSandbox();
describeSandboxConformance("python", () => createPythonSandbox(), PYTHON);

describe("python packages", () => {
  const packagesDirectory = fileURLToPath(new URL("../../../test/fixtures/python-packages", import.meta.url));

  it("loads a package from the local folder the user names, and nothing else", async () => {
    const session = await createPythonSandbox({ packagesDirectory }).create();
    try {
      const result = await session.execute(
        "import rlmkit_fixture\nprint(rlmkit_fixture.GREETING, rlmkit_fixture.double(21))",
      );
      expect(result.error).toBeUndefined();
      expect(result.output).toBe("hello from a local wheel 42\n");
      const missing = await session.execute("import numpy");
      expect(missing.error?.name).toBe("ModuleNotFoundError");
      expect(missing.error?.message).toContain("--python-packages");
    } finally {
      session.dispose();
    }
  }, 60_000);

  it("without a folder, only the standard library is there", async () => {
    const session = await createPythonSandbox().create();
    try {
      expect((await session.execute("import json, re, collections\nprint('ok')")).output).toBe("ok\n");
      expect((await session.execute("import rlmkit_fixture")).error?.name).toBe("ModuleNotFoundError");
    } finally {
      session.dispose();
    }
  }, 60_000);
});
