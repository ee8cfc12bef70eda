import { describe, expect, it } from "vitest";
import { ConfigError } from "../errors/config-error.ts";
import { resolveSandbox } from "./resolve-sandbox.ts";

describe("resolveSandbox", () => {
  it("gives the isolated-vm sandbox by default and by alias", () => {
    expect(resolveSandbox().name).toBe("isolated-vm");
    expect(resolveSandbox("js").isolated).toBe(true);
  });

  it("lists the known sandboxes for an unknown name", () => {
    expect(() => resolveSandbox("docker")).toThrow(ConfigError);
    expect(() => resolveSandbox("docker")).toThrow(/isolated-vm/);
  });
});
