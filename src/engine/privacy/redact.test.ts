import { describe, expect, it } from "vitest";
import { ConfigError } from "../../errors/config-error.ts";
import {
  createRedactor,
  entropyBits,
  ibanValid,
  looksRandom,
  luhnValid,
  type RedactionKind,
} from "./redact.ts";

/** The kinds found in a text, in order. */
function kinds(text: string): RedactionKind[] {
  return createRedactor()
    .find(text)
    .map((span) => span.kind);
}

/** The one value found in a text, as written. */
function found(text: string): string[] {
  return createRedactor()
    .find(text)
    .map((span) => text.slice(span.start, span.end));
}

describe("redaction: positive cases", () => {
  it.each([
    ["write to jane.doe@example.com today", "jane.doe@example.com"],
    ["<JOHN_SMITH+tag@mail.example.co.uk>", "JOHN_SMITH+tag@mail.example.co.uk"],
    ["a@b.io", "a@b.io"],
  ])("e-mail: %s", (text, value) => {
    expect(kinds(text)).toEqual(["email"]);
    expect(found(text)).toEqual([value]);
  });

  it.each([
    ["call +1 (555) 123-4567 now", "+1 (555) 123-4567"],
    ["+44 20 7946 0958", "+44 20 7946 0958"],
    ["+49 30 1234567.", "+49 30 1234567"],
    ["+4915112345678", "+4915112345678"],
    ["+33 1 23 45 67 89", "+33 1 23 45 67 89"],
    ["+81-3-1234-5678", "+81-3-1234-5678"],
    ["(555) 123-4567", "(555) 123-4567"],
    ["555-123-4567", "555-123-4567"],
    ["555.123.4567", "555.123.4567"],
    ["555 123 4567", "555 123 4567"],
    ["1-800-555-0199", "1-800-555-0199"],
    ["020 7946 0958", "020 7946 0958"],
    ["07700 900123", "07700 900123"],
    ["030 1234567", "030 1234567"],
    ["01 23 45 67 89", "01 23 45 67 89"],
    ["Phone: 5551234567", "5551234567"],
    ["tel. 0301234567", "0301234567"],
  ])("phone: %s", (text, value) => {
    expect(kinds(text)).toEqual(["phone"]);
    expect(found(text)).toEqual([value]);
  });

  it.each([
    ["card 4111 1111 1111 1111 exp 12/27", "4111 1111 1111 1111"],
    ["4111111111111111", "4111111111111111"],
    ["5500-0000-0000-0004", "5500-0000-0000-0004"],
    ["amex 3782 822463 10005", "3782 822463 10005"],
    ["6011111111111117", "6011111111111117"],
    ["2223003122003222", "2223003122003222"],
  ])("card: %s", (text, value) => {
    expect(kinds(text)).toEqual(["card"]);
    expect(found(text)).toEqual([value]);
  });

  it.each([
    ["IBAN DE89 3704 0044 0532 0130 00.", "DE89 3704 0044 0532 0130 00"],
    ["GB82WEST12345698765432", "GB82WEST12345698765432"],
    ["pay to NL91 ABNA 0417 1643 00", "NL91 ABNA 0417 1643 00"],
    ["Account number: 12345678", "12345678"],
    ["acct #000123456789", "000123456789"],
    ["sort code 12-34-56", "12-34-56"],
  ])("account: %s", (text, value) => {
    expect(kinds(text)).toEqual(["account"]);
    expect(found(text)).toEqual([value]);
  });

  it.each([
    ["key sk-proj-abcdefghijklmnopqrstuvwxyz0123456789", "sk-proj-abcdefghijklmnopqrstuvwxyz0123456789"],
    ["sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345", "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz012345"],
    ["token ghp_1234567890abcdefghijABCDEFGHIJ123456 ok", "ghp_1234567890abcdefghijABCDEFGHIJ123456"],
    ["AKIAIOSFODNN7EXAMPLE", "AKIAIOSFODNN7EXAMPLE"],
    ["AIzaSyA1234567890abcdefghijklmnopqrstuv", "AIzaSyA1234567890abcdefghijklmnopqrstuv"],
    ["sk_live_4eC39HqLyjWDarjtT1zdp7dc", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"],
    ["xoxb-123456789012-abcdefghijkl", "xoxb-123456789012-abcdefghijkl"],
    [
      "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
      "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U",
    ],
    ["Authorization: Bearer abc123def456ghi789jkl", "abc123def456ghi789jkl"],
    ['{"api_key": "q8Zr2LmX9vT4"}', "q8Zr2LmX9vT4"],
    ["password=hunter22", "hunter22"],
    ["sha d41d8cd98f00b204e9800998ecf8427e", "d41d8cd98f00b204e9800998ecf8427e"],
    ["secret: wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"],
    ["blob 9fQ2xL7pV3kR8mZ1tW6yB4nH0cJ5sD2gA7eU", "9fQ2xL7pV3kR8mZ1tW6yB4nH0cJ5sD2gA7eU"],
  ])("key: %s", (text, value) => {
    expect(kinds(text)).toEqual(["key"]);
    expect(found(text)).toEqual([value]);
  });

  it("key: a PEM private key block", () => {
    const pem = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\nabc\n-----END RSA PRIVATE KEY-----";
    expect(found(`x\n${pem}\ny`)).toEqual([pem]);
  });

  it.each([
    ["from 192.168.1.20 at noon", "192.168.1.20"],
    ["8.8.8.8:53", "8.8.8.8"],
    ["10.0.0.0/8", "10.0.0.0"],
    ["host 2001:db8:85a3::8a2e:370:7334 up", "2001:db8:85a3::8a2e:370:7334"],
    ["2001:0db8:0000:0000:0000:ff00:0042:8329", "2001:0db8:0000:0000:0000:ff00:0042:8329"],
    ["::ffff:192.0.2.128", "::ffff:192.0.2.128"],
  ])("ip: %s", (text, value) => {
    expect(kinds(text)).toEqual(["ip"]);
    expect(found(text)).toEqual([value]);
  });
});

describe("redaction: negative cases", () => {
  it.each([
    "on 2024-01-15 at 10:30:45",
    "15.01.2024 and 01/15/2024",
    "version 1.2.3 and v2.10.0 and 1.2.3-beta.4",
    "release 1.2.3.4",
    "node 24.11.0, TypeScript 5.9.2",
    "10.0.19041.1",
    "3 items, 42 lines, 1,234,567 characters, 1 000 000 rows",
    "total 123 456 789",
    "scores 12 34 56 78 90",
    "years 2019-2020-2021",
    "ISBN 978-3-16-148410-0 and 0-306-40615-2",
    "a timestamp 1718000000000 and 1718000000",
    "order 123456789",
    "pi is 3.14159265358979",
    "ranges 100-200, 10-20-30",
    "uuid 550e8400-e29b-41d4-a716-446655440000",
    "path /home/user/projects/rlmkit/src/engine/privacy/redact.ts",
    "const tokenCount = count_tokens(text); token = count_tokens(chunk)",
    "ThisIsAVeryLongCamelCaseIdentifierName2024",
    "std::string and a[::2] and 12:30 and fe80::1",
    "Bearer authentication is used",
    "4111 1111 1111 1112",
    "the cost was $1234.56 for 20000 tokens",
    "grep('\\\\d{3}-\\\\d{4}') found 12 matches at offsets 1024, 2048",
    "[EMAIL_1] wrote to [PHONE_2]",
    "GB82 WEST 1234 5698 7654 33",
  ])("nothing in: %s", (text) => {
    expect(found(text)).toEqual([]);
  });

  it("leaves the system prompt's numbers alone", async () => {
    const { systemPrompt } = await import("../prompts.ts");
    const prompt = systemPrompt({
      recursive: true,
      memory: true,
      outputLimitChars: 20_000,
      subModelWindowTokens: 128_000,
    });
    expect(createRedactor().find(prompt)).toEqual([]);
  });
});

describe("redaction: placeholders", () => {
  it("gives one value one placeholder, and different values different ones", () => {
    const redactor = createRedactor();
    const counts = {};
    const first = redactor.redact("a@x.com b@x.com A@X.com +44 20 7946 0958", counts);
    expect(first).toBe("[EMAIL_1] [EMAIL_2] [EMAIL_1] [PHONE_1]");
    expect(counts).toEqual({ email: 3, phone: 1 });
    expect(redactor.redact("again b@x.com, and c@x.com")).toBe("again [EMAIL_2], and [EMAIL_3]");
    expect(redactor.distinct).toEqual({ email: 3, phone: 1 });
  });

  it("numbers each Redactor on its own", () => {
    expect(createRedactor().redact("z@x.com")).toBe("[EMAIL_1]");
    expect(createRedactor().redact("y@x.com z@x.com")).toBe("[EMAIL_1] [EMAIL_2]");
  });

  it("keeps the label of a labelled value and replaces only the value", () => {
    expect(createRedactor().redact("Authorization: Bearer abc123def456ghi789jkl")).toBe(
      "Authorization: Bearer [KEY_1]",
    );
    expect(createRedactor().redact("password: hunter22\nuser: bob")).toBe("password: [KEY_1]\nuser: bob");
  });

  it("redacts a whole line with several kinds and leaves no part of a value", () => {
    const line =
      "jane@corp.example, +1 555-867-5309, 4539 1488 0343 6467, sk-abcdefghijklmnopqrstuvwxyz123456, 203.0.113.7";
    const redacted = createRedactor().redact(line);
    expect(redacted).toBe("[EMAIL_1], [PHONE_1], [CARD_1], [KEY_1], [IP_1]");
  });

  it("is idempotent on its own output", () => {
    const redactor = createRedactor();
    const once = redactor.redact("mail a@x.com from 10.1.2.3");
    expect(redactor.redact(once)).toBe(once);
  });
});

describe("redaction: user patterns", () => {
  it("redacts matches of user patterns before the built-in detectors", () => {
    const redactor = createRedactor({ patterns: ["EMP-\\d{6}", /project\s+\w+/i] });
    const counts = {};
    expect(redactor.redact("EMP-123456 on Project Falcon (EMP-123456)", counts)).toBe(
      "[CUSTOM_1] on [CUSTOM_2] ([CUSTOM_1])",
    );
    expect(counts).toEqual({ custom: 3 });
  });

  it("refuses a bad pattern with a ConfigError that names it", () => {
    expect(() => createRedactor({ patterns: ["(unclosed"] })).toThrow(ConfigError);
    expect(() => createRedactor({ patterns: ["(unclosed"] })).toThrow(/"\(unclosed"/);
  });

  it("survives patterns that match the empty string", () => {
    expect(createRedactor({ patterns: ["x*"] }).redact("axxb")).toBe("a[CUSTOM_1]b");
  });
});

describe("redaction: checks", () => {
  it("Luhn", () => {
    expect(luhnValid("4111111111111111")).toBe(true);
    expect(luhnValid("4111111111111112")).toBe(false);
  });

  it("IBAN mod 97", () => {
    expect(ibanValid("DE89 3704 0044 0532 0130 00")).toBe(true);
    expect(ibanValid("DE89 3704 0044 0532 0130 01")).toBe(false);
  });

  it("entropy and randomness", () => {
    expect(entropyBits("aaaa")).toBe(0);
    expect(entropyBits("abcd")).toBe(2);
    expect(looksRandom("9fQ2xL7pV3kR8mZ1tW6yB4nH0cJ5sD2gA7eU")).toBe(true);
    expect(looksRandom("ThisIsAVeryLongCamelCaseIdentifierName2024")).toBe(false);
    expect(looksRandom("00000000000000000000000000000000")).toBe(false);
  });

  it("takes linear time on long adversarial runs", () => {
    const inputs = [
      "a".repeat(200_000),
      "1 ".repeat(100_000),
      "1-".repeat(100_000),
      `${"a.".repeat(50_000)}@`,
      "+1".repeat(100_000),
      ":".repeat(200_000),
      "1.".repeat(100_000),
      "Ab1".repeat(70_000),
    ];
    for (const input of inputs) {
      const started = performance.now();
      createRedactor().redact(input);
      expect(performance.now() - started).toBeLessThan(2_000);
    }
  });
});
