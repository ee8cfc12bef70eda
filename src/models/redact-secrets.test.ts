import { describe, expect, it } from "vitest";
import { validateLimits } from "../engine/run-limits.ts";
import { redactSecrets } from "./redact-secrets.ts";

describe("redactSecrets", () => {
  it("replaces known values, bearer tokens, key-shaped tokens and the credentials of URLs", () => {
    const text = [
      "value hunter2-long-secret",
      "Authorization: Bearer abcdefgh12345678",
      "key sk-proj-0123456789abcdefghij",
      "connect postgres://rlm:pa55word@db.internal:5432/rlm failed",
      'base {"url":"https://user:tok@api.example.com/v1"}',
    ].join("\n");
    const redacted = redactSecrets(text, ["hunter2-long-secret"]);
    for (const secret of [
      "hunter2-long-secret",
      "abcdefgh12345678",
      "sk-proj-0123",
      "pa55word",
      "user:tok",
    ]) {
      expect(redacted).not.toContain(secret);
    }
    expect(redacted).toContain("postgres://[redacted]@db.internal:5432/rlm");
    expect(redacted).toContain("https://[redacted]@api.example.com/v1");
  });

  it("leaves URLs without credentials and e-mail addresses as they are", () => {
    const text = "see https://example.com/a@b and write to ops@example.com";
    expect(redactSecrets(text, [])).toBe(text);
  });
});

describe("limit names", () => {
  it("refuses __proto__ and constructor as limits with the list of real ones", () => {
    for (const field of ["__proto__", "constructor", "toString"]) {
      const limits = JSON.parse(`{"${field}": 5}`);
      expect(() => validateLimits({ run: limits })).toThrow(/is not a limit; the limits are maxIterations/);
    }
  });
});

describe("redactSecrets on hostile text", () => {
  // Every trace event and error line goes through redactSecrets, and model output or data can be anything. The
  // timeout guards against a hang: these took seconds to minutes when a failed match rescanned the rest.
  it("takes linear time on text that only looks like the start of URLs or keys", () => {
    for (const unit of ["a.", "a-", "://", "sk-", "Bearer ", "x://y"]) {
      const text = unit.repeat(200_000);
      expect(redactSecrets(text, []).length).toBeGreaterThan(0);
    }
  }, 10_000);
});
