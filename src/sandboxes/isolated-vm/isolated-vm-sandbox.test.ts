import { describeSandboxConformance } from "../../../test/sandbox-conformance.ts";
import { createIsolatedVmSandbox } from "./isolated-vm-sandbox.ts";

describeSandboxConformance("isolated-vm", () => createIsolatedVmSandbox());
