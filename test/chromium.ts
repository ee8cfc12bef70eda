/**
 * The Chromium binary for browser tests (playwright-core drives it; no browser is downloaded). Debian's
 * /usr/bin/chromium is a shell script that starts /usr/lib/chromium/chromium with flags, so the real binary is
 * looked for first. CHROMIUM_PATH overrides the search.
 */
import { accessSync, constants, readFileSync, statSync } from "node:fs";
import { delimiter, join } from "node:path";

const BINARIES = [
  "/usr/lib/chromium/chromium",
  "/usr/lib/chromium-browser/chromium-browser",
  "/usr/lib64/chromium-browser/chromium-browser",
  "/opt/google/chrome/chrome",
];
const COMMANDS = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable"];

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** A launcher script's binary: the path after LIBDIR / APPNAME in Debian's wrapper, when it names one. */
function binaryOfScript(path: string): string | undefined {
  let text: string;
  try {
    text = readFileSync(path, "utf8").slice(0, 20_000);
  } catch {
    return undefined;
  }
  if (!text.startsWith("#!")) return path;
  const libdir = /^LIBDIR=(\S+)/m
    .exec(text)?.[1]
    ?.replace(/\$APPNAME|\$\{APPNAME\}/g, /^APPNAME=(\S+)/m.exec(text)?.[1] ?? "");
  const app = /^APPNAME=(\S+)/m.exec(text)?.[1];
  const candidate = libdir && app ? join(libdir, app) : undefined;
  return candidate && executable(candidate) ? candidate : undefined;
}

/** The path of a Chromium binary, or undefined when none is installed. */
export function findChromium(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const given = env.CHROMIUM_PATH;
  if (given) return executable(given) ? given : undefined;
  for (const path of BINARIES) if (executable(path)) return path;
  for (const folder of (env.PATH ?? "").split(delimiter)) {
    for (const command of COMMANDS) {
      const path = join(folder, command);
      if (!executable(path)) continue;
      const binary = binaryOfScript(path);
      if (binary) return binary;
    }
  }
  return undefined;
}
