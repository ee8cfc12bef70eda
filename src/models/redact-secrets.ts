const SECRET_NAME = /(API_KEY|_TOKEN|_SECRET|PASSWORD)$/i;
const MIN_SECRET_LENGTH = 8;

/** The values of environment variables that look like secrets, plus any extra values given. */
export function collectSecrets(
  env: Record<string, string | undefined> = process.env,
  extra: Array<string | undefined> = [],
): string[] {
  const values = new Set<string>();
  for (const [name, value] of Object.entries(env)) {
    if (value !== undefined && value.length >= MIN_SECRET_LENGTH && SECRET_NAME.test(name)) values.add(value);
  }
  for (const value of extra) if (value !== undefined && value.length >= MIN_SECRET_LENGTH) values.add(value);
  return [...values];
}

/**
 * `://user:password@`: credentials in a URL (a base URL or database URL given with them). Anchored on `://`
 * and bounded in length, so text that only looks like the start of URLs ("a.a.a...", "://://...") costs linear
 * time: an unbounded scheme or user part made each failed match rescan the rest of the text (quadratic; 80,000
 * characters took 6 s, and every trace event and error goes through here).
 */
const URL_CREDENTIALS = /:\/\/[^\s/?#@"\\]{1,256}@/g;

/**
 * Replaces every secret value, anything shaped like a bearer token or API key, and the credentials of URLs
 * (`postgres://user:pw@host` -> `postgres://[redacted]@host`) with `[redacted]`.
 */
export function redactSecrets(text: string, secrets: readonly string[] = collectSecrets()): string {
  let result = text;
  for (const secret of secrets) result = result.split(secret).join("[redacted]");
  return result
    .replace(/\b(Bearer\s+)[A-Za-z0-9._~+/=-]{8,}/g, "$1[redacted]")
    .replace(/\b(sk|pk|rk)-[A-Za-z0-9_-]{16,}/g, "[redacted]")
    .replace(URL_CREDENTIALS, "://[redacted]@");
}
