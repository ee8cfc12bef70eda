/** PostgreSQL URLs as the memory store, the job queue and the commands take and show them. */

/** Whether `url` is a `postgres://` (or `postgresql://`) URL that parses. */
export const isPostgresUrl = (url: string) => /^postgres(ql)?:\/\//i.test(url) && URL.canParse(url);

/** The URL as messages show it: no password, in the userinfo or as a `password` parameter. */
export function urlWithoutPassword(url: string): string {
  try {
    const parsed = new URL(url);
    parsed.password = "";
    parsed.searchParams.delete("password");
    return parsed.toString();
  } catch {
    return url.replace(/^([a-z]+:\/\/[^:/@]*):[^@/]*@/i, "$1@");
  }
}
