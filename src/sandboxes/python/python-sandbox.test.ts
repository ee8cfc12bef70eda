import { describeSandboxConformance, PYTHON } from "../../../test/sandbox-conformance.ts";
import { createPythonSandbox, warmPythonSandbox } from "./python-sandbox.ts";

warmPythonSandbox();
describeSandboxConformance("python", () => createPythonSandbox(), PYTHON);
