#!/usr/bin/env node
/**
 * The `rlm` executable. It checks the Node version before anything else is loaded: on an older Node the rest would
 * fail at import with a SyntaxError that says nothing useful. Nothing may be imported statically here.
 */
const MINIMUM_MAJOR = 22;
const major = Number(process.versions.node.split(".")[0]);
if (!(major >= MINIMUM_MAJOR)) {
  process.stderr.write(
    `rlm: rlmkit needs Node >= ${MINIMUM_MAJOR} (found ${process.versions.node}); install Node 22 or 24, or run it with npx from a project that has the node@24 dev dependency.\n`,
  );
  process.exit(2);
}
await import("./main.ts");
