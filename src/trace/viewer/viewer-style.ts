/** The trace viewer's stylesheet, inlined into the page (its hash goes into the Content-Security-Policy). */
export const VIEWER_STYLE = `
:root { --ok: #2f7d32; --error: #c62828; --limit: #b26a00; --running: #6b7280; --path: #d4a017; --line: #e5e7eb;
  --muted: #6b7280; --bg: #ffffff; --panel: #f8fafc; font-family: system-ui, sans-serif; font-size: 14px; color: #111827; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); }
header { padding: 10px 16px; border-bottom: 1px solid var(--line); position: sticky; top: 0; background: var(--bg); z-index: 2; }
h1 { font-size: 16px; margin: 0 8px 4px 0; display: inline-block; }
#live { font-size: 12px; color: var(--muted); }
#live.on { color: var(--ok); }
#summary { color: var(--muted); margin-bottom: 6px; }
.bar { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
.bar input { width: 320px; padding: 4px 6px; }
button { font: inherit; padding: 2px 8px; cursor: pointer; }
#overview { display: flex; gap: 24px; padding: 8px 16px; flex-wrap: wrap; align-items: flex-start; }
#answer { max-width: 720px; }
#answer pre { max-height: 120px; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; }
th, td { padding: 2px 10px 2px 0; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { color: var(--muted); font-weight: 600; }
#timeline-box { padding: 4px 16px 8px; border-bottom: 1px solid var(--line); }
#timeline { width: 100%; display: block; cursor: crosshair; background: var(--panel); }
.legend { font-size: 12px; color: var(--muted); display: flex; gap: 12px; margin-bottom: 4px; flex-wrap: wrap; }
.swatch { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
main { display: grid; grid-template-columns: minmax(0, 3fr) minmax(0, 2fr); min-height: 60vh; }
#tree { padding: 6px 8px 40px 16px; overflow: auto; border-right: 1px solid var(--line); }
#details { padding: 8px 16px 40px; overflow: auto; position: sticky; top: 96px; align-self: start; max-height: calc(100vh - 100px); }
.kids { margin-left: 18px; border-left: 1px dotted var(--line); }
.row { display: flex; gap: 6px; align-items: baseline; padding: 1px 4px; border-left: 3px solid transparent; cursor: pointer; white-space: nowrap; }
.row:hover { background: #f3f4f6; }
.row.selected { background: #e0ecff; }
.row.path { border-left-color: var(--path); }
.row.match .label { background: #fff3a3; }
.toggle { width: 18px; border: none; background: none; padding: 0; color: var(--muted); flex: none; }
.kind { font-size: 11px; color: var(--muted); width: 62px; flex: none; }
.label { font-weight: 600; flex: none; }
.line { color: var(--muted); overflow: hidden; text-overflow: ellipsis; min-width: 0; flex: 1 1 auto; font-family: ui-monospace, monospace; font-size: 12px; }
.metrics { color: var(--muted); font-size: 12px; flex: none; font-variant-numeric: tabular-nums; }
.mark { flex: none; font-size: 12px; font-weight: 600; }
.status-error .mark, .why.status-error { color: var(--error); }
.status-limit .mark, .why.status-limit { color: var(--limit); }
.status-running .mark { color: var(--running); }
.below { color: var(--error); font-size: 11px; flex: none; }
.more { margin: 2px 0 2px 24px; font-size: 12px; }
pre { background: var(--panel); border: 1px solid var(--line); padding: 6px 8px; white-space: pre-wrap; word-break: break-word;
  max-height: 420px; overflow: auto; font-size: 12px; margin: 4px 0 10px; }
mark { background: #ffe066; }
#details h2 { font-size: 15px; margin: 4px 0; }
#details h3 { font-size: 13px; margin: 10px 0 0; color: #374151; }
.crumbs button { border: none; background: none; color: #1d4ed8; padding: 0 2px; }
.why { font-weight: 600; }
.on-path { color: #8a6d00; }
.empty { color: var(--muted); }
#swatch-iteration { background: #4c78a8; } #swatch-llm { background: #59a14f; } #swatch-rlm { background: #b07aa1; }
#swatch-tool { background: #f28e2b; } #swatch-error { background: #c62828; }
footer { padding: 8px 16px; border-top: 1px solid var(--line); }
#problems-list { padding: 6px 16px; border-bottom: 1px solid var(--line); max-height: 200px; overflow: auto; }
#problems-list button { display: block; border: none; background: none; text-align: left; padding: 1px 0; color: var(--error); }
`;
