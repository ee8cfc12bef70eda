import { createHash } from "node:crypto";
import { UsageError } from "../../errors/usage-error.ts";
import type { TraceModel } from "./trace-model.ts";
import { VIEWER_SCRIPT } from "./viewer-script.ts";
import { VIEWER_STYLE } from "./viewer-style.ts";

export interface ViewerPageOptions {
  /** Served by `rlm trace view`: the page follows the server's event stream. */
  live?: boolean;
  /** The model's version (live view): the stream sends what changed after it. */
  version?: number;
}

/**
 * JSON that is safe inside a `<script type="application/json">` block: `<`, `>` and `&` are escaped, so trace
 * text cannot close the block (`</script>`) or open a comment, and U+2028/U+2029 too, for older parsers.
 */
export function jsonForScript(value: unknown): string {
  try {
    return JSON.stringify(value).replace(/[<>&\u2028\u2029]/g, (character) => {
      return `\\u${character.charCodeAt(0).toString(16).padStart(4, "0")}`;
    });
  } catch (error) {
    throw tooLargeForAPage(error);
  }
}

/**
 * V8's strings end near 512 MiB: a trace whose page would be longer (escaped markup grows six-fold) is refused
 * with a clear line instead of "Invalid string length".
 */
function tooLargeForAPage(error: unknown): unknown {
  return error instanceof RangeError
    ? new UsageError({
        message:
          "The trace is too large for one page (its text, escaped, passes 512 MiB); show a smaller trace.",
      })
    : error;
}

function sha256(text: string): string {
  return `'sha256-${createHash("sha256").update(text, "utf8").digest("base64")}'`;
}

const SCRIPT_HASH = sha256(VIEWER_SCRIPT);
const STYLE_HASH = sha256(VIEWER_STYLE);

/**
 * The policy of the page: nothing from the network (no CDN, no image, no font), only our own inline script and
 * style, by hash; the live view may also read its event stream from the server it came from.
 */
export function viewerContentSecurityPolicy(live: boolean): string {
  return [
    "default-src 'none'",
    `script-src ${SCRIPT_HASH}`,
    `style-src ${STYLE_HASH}`,
    `connect-src ${live ? "'self'" : "'none'"}`,
    "base-uri 'none'",
    "form-action 'none'",
  ].join("; ");
}

/** The whole viewer as one self-contained HTML document; the trace rides along as JSON data. */
export function renderViewerPage(model: TraceModel, options: ViewerPageOptions = {}): string {
  const data = jsonForScript({ model, live: options.live === true, version: options.version ?? 0 });
  try {
    return page(data, options.live === true);
  } catch (error) {
    throw tooLargeForAPage(error);
  }
}

function page(data: string, live: boolean): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="${viewerContentSecurityPolicy(live)}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<title>rlm trace</title>
<style>${VIEWER_STYLE}</style>
</head>
<body>
<header>
<h1 id="title"></h1><span id="live"></span>
<div id="summary"></div>
<div class="bar">
<input id="search" type="search" placeholder="Search code, output, prompts, answers" aria-label="Search the trace">
<button id="prev" title="previous match (Shift+Enter)">&uarr;</button><button id="next" title="next match (Enter)">&darr;</button>
<span id="search-count"></span>
<button id="path-button" title="Opens the nodes that produced the final answer">Show the answer path</button>
<button id="problems-button">Errors and limits</button>
</div>
</header>
<div id="problems-list" hidden></div>
<section id="overview"><div id="answer"></div><table id="models"></table></section>
<section id="timeline-box">
<div class="legend"><span><span class="swatch" id="swatch-iteration"></span>iteration (root call and cells)</span><span><span class="swatch" id="swatch-llm"></span>llm_query</span><span><span class="swatch" id="swatch-rlm"></span>rlm_query</span><span><span class="swatch" id="swatch-tool"></span>tool</span><span><span class="swatch" id="swatch-error"></span>error or limit</span><span>gold outline: answer path</span></div>
<canvas id="timeline" height="40"></canvas>
<div class="legend" id="timeline-note"></div>
</section>
<main><div id="tree" role="tree" aria-label="The run tree"></div><aside id="details"></aside></main>
<footer class="legend">&#9733; answer path: the iteration that produced the final answer (the last one calling FINAL, else the last whose reply holds the answer), its cells that call FINAL, the calls made in it, and earlier calls whose result (a child run's answer, a tool's output) appears in the answer; a heuristic, since the trace does not record which variable fed which.</footer>
<script type="application/json" id="trace-data">${data}</script>
<script>${VIEWER_SCRIPT}</script>
</body>
</html>
`;
}
