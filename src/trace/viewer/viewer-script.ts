/**
 * The trace viewer's script, inlined into the page (its hash goes into the Content-Security-Policy). It reads the
 * model (trace-model.ts) from the page's JSON block and builds everything with DOM calls and textContent: trace
 * text never goes through an HTML parser. Big traces stay quick: a node's children are built when it is opened,
 * at most PAGE at a time ("show more"); the timeline is one canvas; search text is built once, when the page is
 * idle. In the live view it applies the patches the server streams (viewer-server.ts).
 *
 * Plain browser JavaScript in a raw string: no backticks or template placeholders inside.
 */
export const VIEWER_SCRIPT = String.raw`
"use strict";
(function () {
  const PAGE = 100;
  const CRUMBS = 30;
  const NEST = 64;
  const data = JSON.parse(document.getElementById("trace-data").textContent);
  let model = data.model;
  let version = data.version;
  let nodes = model.nodes;
  let hay = [];
  const expanded = new Set(model.roots);
  const shown = new Map();
  const rows = new Map();
  let selected = -1;
  let focus = -1;
  let query = "";
  let matches = [];
  let matchSet = new Set();
  let matchBelow = new Set();
  let matchIndex = -1;
  const $ = (id) => document.getElementById(id);

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }
  function num(value) { return String(Math.round(value)).replace(/\B(?=(\d{3})+(?!\d))/g, ","); }
  function money(cost, unpriced, partial) {
    if (partial || (unpriced > 0 && !cost)) return "cost unknown";
    if (cost === null) return "";
    const text = "$" + (cost < 0.01 ? cost.toFixed(4) : cost.toFixed(2));
    return unpriced > 0 ? "\u2265 " + text : text;
  }
  function time(ms) {
    if (ms === null || ms === undefined) return "";
    return ms < 1000 ? Math.round(ms) + " ms" : (ms / 1000).toFixed(ms < 10000 ? 2 : 1) + " s";
  }
  function metrics(node) {
    const parts = [];
    if (node.inputTokens + node.outputTokens > 0 || node.partial)
      parts.push(num(node.inputTokens) + " in / " + num(node.outputTokens) + " out" + (node.partial ? "+" : ""));
    const cost = money(node.costUsd, node.unpricedCalls, node.partial);
    if (cost && (node.inputTokens + node.outputTokens > 0 || node.partial)) parts.push(cost);
    const took = time(node.ms);
    if (took) parts.push(took);
    return parts.join(" \u00b7 ");
  }
  const MARKS = { error: "\u2717 error", limit: "\u25a0 limit", running: "\u2026 running", cached: "cached", ok: "" };
  function kindName(node) { return node.kind === "subcall" ? node.label.split(" ")[0] : node.kind; }

  // ---- the tree ----
  // Built with a work list, not recursion, and never nested more than NEST levels: a hostile trace nests
  // thousands of child runs, and the open path to a deep node would overflow the stack or crash the page's
  // layout. A deeper subtree is shown from its top ("focus"), with a way back up.
  function makeNode(id) {
    const box = nodeBox(id);
    grow([[id, box, levelOf(id)]]);
    return box;
  }
  function grow(work) {
    while (work.length > 0) {
      const [id, box, level] = work.pop();
      if (!expanded.has(id)) continue;
      if (level + 1 >= NEST && nodes[id].children.length > 0) {
        const deeper = el("button", "more", "\u21b3 deeper: show the tree from here");
        deeper.addEventListener("click", (event) => { event.stopPropagation(); focus = id; renderTree(); });
        box.append(deeper);
      } else box.append(makeKids(id, work, level + 1));
    }
  }
  /** Levels between a node and the top of the tree as shown (the roots, or the focus). */
  function levelOf(id) {
    let level = 0;
    for (let at = id; at >= 0 && at !== focus; at = nodes[at].parent) level++;
    return focus >= 0 ? level : level - 1;
  }
  function nodeBox(id) {
    const node = nodes[id];
    const box = el("div", "node");
    const row = el("div", "row status-" + node.status);
    row.dataset.id = String(id);
    row.tabIndex = 0;
    row.setAttribute("role", "treeitem");
    const toggle = el("button", "toggle", node.children.length > 0 ? (expanded.has(id) ? "\u25be" : "\u25b8") : "");
    toggle.tabIndex = -1;
    if (node.children.length > 0) toggle.setAttribute("aria-label", "open or close");
    row.append(toggle, el("span", "kind", kindName(node)), el("span", "label", node.label), el("span", "line", node.line),
      el("span", "metrics", metrics(node)), el("span", "mark", (node.path ? "\u2605 " : "") + MARKS[node.status]));
    if (node.problemsBelow > 0 && !expanded.has(id)) row.append(el("span", "below", node.problemsBelow + " \u2717 inside"));
    decorate(row, id);
    box.append(row);
    rows.set(id, row);
    return box;
  }
  function decorate(row, id) {
    const node = nodes[id];
    row.classList.toggle("path", node.path);
    row.classList.toggle("selected", id === selected);
    row.classList.toggle("match", matchSet.has(id) || (matchBelow.has(id) && !expanded.has(id)));
  }
  function makeKids(id, work, level) {
    const kids = el("div", "kids");
    kids.setAttribute("role", "group");
    fillKids(kids, id, work, level);
    return kids;
  }
  /** The first children of a node as boxes; the open ones go on the work list to be filled in turn. */
  function fillKids(kids, id, work, level) {
    const children = nodes[id].children;
    const count = Math.min(children.length, shown.get(id) || PAGE);
    const parts = [];
    for (let index = 0; index < count; index++) {
      const box = nodeBox(children[index]);
      parts.push(box);
      work.push([children[index], box, level]);
    }
    if (count < children.length) {
      const more = el("button", "more", "show " + Math.min(PAGE, children.length - count) + " more of " +
        num(children.length - count) + " left");
      more.addEventListener("click", (event) => {
        event.stopPropagation();
        shown.set(id, count + PAGE);
        const next = [];
        fillKids(kids, id, next, level);
        grow(next);
      });
      parts.push(more);
    }
    kids.replaceChildren(...parts);
  }
  function renderTree() {
    rows.clear();
    const scroll = $("tree").scrollTop;
    if (focus >= nodes.length) focus = -1;
    const parts = [];
    if (focus >= 0) {
      let above = 0;
      for (let at = nodes[focus].parent; at >= 0; at = nodes[at].parent) above++;
      const up = el("button", "more", "\u2191 " + num(above) + " levels above: show the tree from the top");
      up.addEventListener("click", () => { focus = -1; renderTree(); });
      parts.push(up);
    }
    parts.push(...(focus >= 0 ? [focus] : model.roots).map(makeNode));
    $("tree").replaceChildren(...parts);
    if (model.roots.length === 0) $("tree").append(el("p", "empty", "The trace holds no run (yet)."));
    $("tree").scrollTop = scroll;
  }
  function toggle(id) {
    const row = rows.get(id);
    if (!row || nodes[id].children.length === 0) return;
    if (expanded.has(id)) expanded.delete(id); else expanded.add(id);
    row.parentElement.replaceWith(makeNode(id));
  }
  function reveal(id) {
    const ancestors = [];
    for (let at = nodes[id].parent; at >= 0; at = nodes[at].parent) ancestors.push(at);
    // Keep the focus when the node is under it and not too deep below it; else show from the top or, for a deep
    // node, from an ancestor half the nesting limit above it.
    const under = focus < 0 ? ancestors.length : focus === id ? 0 : ancestors.indexOf(focus) + 1;
    if (under <= 0 && focus !== id || under >= NEST) focus = ancestors.length < NEST ? -1 : ancestors[NEST / 2 - 1];
    for (let index = 0, child = id; index < ancestors.length; child = ancestors[index], index++) {
      const at = ancestors[index];
      expanded.add(at);
      const place = nodes[at].children.indexOf(child);
      if (place >= (shown.get(at) || PAGE)) shown.set(at, Math.ceil((place + 1) / PAGE) * PAGE);
      if (at === focus) break;
    }
    renderTree();
    select(id);
    const row = rows.get(id);
    if (row) { row.scrollIntoView({ block: "center" }); row.focus({ preventScroll: true }); }
  }
  $("tree").addEventListener("click", (event) => {
    const row = event.target.closest(".row");
    if (!row) return;
    const id = Number(row.dataset.id);
    if (event.target.closest(".toggle")) toggle(id); else select(id);
  });
  $("tree").addEventListener("dblclick", (event) => {
    const row = event.target.closest(".row");
    if (row && !event.target.closest(".toggle")) toggle(Number(row.dataset.id));
  });
  $("tree").addEventListener("keydown", (event) => {
    const row = event.target.closest(".row");
    if (!row) return;
    const id = Number(row.dataset.id);
    if (event.key === "Enter") { select(id); if (!expanded.has(id)) toggle(id); }
    else if (event.key === "ArrowRight" && !expanded.has(id)) toggle(id);
    else if (event.key === "ArrowLeft" && expanded.has(id)) toggle(id);
    else if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      const all = Array.from($("tree").querySelectorAll(".row"));
      const next = all[all.indexOf(row) + (event.key === "ArrowDown" ? 1 : -1)];
      if (next) { next.focus(); event.preventDefault(); }
    }
  });

  // ---- details of the selected node ----
  function select(id) {
    const before = rows.get(selected);
    selected = id;
    if (before) decorate(before, Number(before.dataset.id));
    const row = rows.get(id);
    if (row) decorate(row, id);
    renderDetails();
    drawTimeline();
  }
  function highlighted(text) {
    const pre = el("pre");
    if (!query) { pre.textContent = text; return pre; }
    const lower = text.toLowerCase();
    let from = 0;
    let marks = 0;
    for (let at = lower.indexOf(query); at >= 0 && marks < 500; at = lower.indexOf(query, from)) {
      pre.append(document.createTextNode(text.slice(from, at)), el("mark", "", text.slice(at, at + query.length)));
      from = at + query.length;
      marks++;
    }
    pre.append(document.createTextNode(text.slice(from)));
    return pre;
  }
  function renderDetails() {
    const box = $("details");
    if (selected < 0 || !nodes[selected]) {
      box.replaceChildren(el("p", "empty", "Select a node to see its code, output, prompt and response."));
      return;
    }
    const node = nodes[selected];
    const crumbs = el("p", "crumbs");
    // The nearest ancestors only: a deep node has thousands.
    const chain = [];
    let above = 0;
    for (let at = node.parent; at >= 0; at = nodes[at].parent) {
      if (chain.length < CRUMBS) chain.push(at); else above++;
    }
    chain.reverse();
    if (above > 0) crumbs.append(document.createTextNode("\u2026 " + num(above) + " levels \u203a "));
    for (const at of chain) {
      const link = el("button", "", nodes[at].label);
      link.addEventListener("click", () => reveal(at));
      crumbs.append(link, document.createTextNode(" \u203a "));
    }
    const parts = [crumbs, el("h2", "", node.label)];
    const facts = [kindName(node), metrics(node)];
    if (node.t0 !== null) facts.push("starts at " + time(node.t0));
    parts.push(el("p", "", facts.filter(Boolean).join(" \u00b7 ")));
    if (node.status !== "ok") parts.push(el("p", "why status-" + node.status, MARKS[node.status] + (node.why ? ": " + node.why : "")));
    if (node.path) parts.push(el("p", "on-path", "\u2605 On the answer path (a heuristic: see the help below)."));
    if (node.kind === "subcall" && !node.sections.some((section) => section[0] === "prompt"))
      parts.push(el("p", "empty", "Prompt and response: not in this trace (it records their sizes and tokens, not their text)."));
    else if (node.sections.length === 0) parts.push(el("p", "empty", "The trace records no text for this node."));
    for (const [title, text] of node.sections) parts.push(el("h3", "", title), highlighted(text));
    box.replaceChildren(...parts);
  }

  // ---- header, totals per model, answers, problems ----
  function renderOverview() {
    document.title = model.title + " \u2014 rlm trace";
    $("title").textContent = model.title;
    let input = 0, output = 0, cost = null, unpriced = 0, partial = false, calls = 0, tools = 0;
    for (const id of model.roots) {
      const root = nodes[id];
      input += root.inputTokens; output += root.outputTokens; unpriced += root.unpricedCalls;
      partial = partial || root.partial;
      if (root.costUsd !== null) cost = (cost || 0) + root.costUsd;
    }
    for (const node of nodes) { if (node.kind === "subcall") calls++; else if (node.kind === "tool") tools++; }
    const runs = nodes.filter((node) => node.kind === "run").length;
    $("summary").textContent = [runs + " runs", num(calls) + " sub-calls", num(tools) + " tool calls",
      num(input) + " in / " + num(output) + " out tokens", money(cost, unpriced, partial) || "cost unknown",
      time(model.endAt - model.startAt)].join(" \u00b7 ");
    const table = $("models");
    const head = el("tr");
    for (const title of ["model", "calls", "input tokens", "output tokens", "cost"]) head.append(el("th", "", title));
    const body = [head];
    for (const row of model.models) {
      const tr = el("tr");
      tr.append(el("td", "", row.model), el("td", "", num(row.calls)), el("td", "", num(row.inputTokens) + (row.partial ? "+" : "")),
        el("td", "", num(row.outputTokens) + (row.partial ? "+" : "")), el("td", "", money(row.costUsd, row.unpricedCalls, row.partial) || "cost unknown"));
      body.push(tr);
    }
    table.replaceChildren(...body);
    const answers = [];
    for (const id of model.roots) {
      const root = nodes[id];
      const answer = root.sections.find((section) => section[0] === "answer");
      const head = el("h3", "", (model.roots.length > 1 ? root.label + ": " : "") + (answer ? "answer" : "no answer"));
      answers.push(head);
      if (answer) answers.push(el("pre", "", answer[1].length > 4000 ? answer[1].slice(0, 4000) + "\u2026" : answer[1]));
      if (root.status !== "ok") answers.push(el("p", "why status-" + root.status, MARKS[root.status] + (root.why ? ": " + root.why : "")));
    }
    $("answer").replaceChildren(...answers);
    $("problems-button").textContent = "Errors and limits (" + num(model.problemCount) + ")";
    $("problems-button").disabled = model.problemCount === 0;
    const list = model.problems.map((id) => {
      const button = el("button", "", nodes[id].label + " \u2014 " + (nodes[id].why || nodes[id].status));
      button.addEventListener("click", () => reveal(id));
      return button;
    });
    if (model.problemCount > model.problems.length) list.push(el("p", "empty", "\u2026 and " + num(model.problemCount - model.problems.length) + " more"));
    $("problems-list").replaceChildren(...list);
  }
  $("problems-button").addEventListener("click", () => { $("problems-list").hidden = !$("problems-list").hidden; });
  $("path-button").addEventListener("click", () => {
    let first = -1;
    const opened = new Set();
    for (const node of nodes) {
      if (!node.path) continue;
      if (first < 0) first = node.id;
      // Each ancestor once: a long path of deep nodes would otherwise walk up the same chain again and again.
      for (let at = node.parent; at >= 0 && !opened.has(at); at = nodes[at].parent) { opened.add(at); expanded.add(at); }
    }
    renderTree();
    if (first >= 0) reveal(first);
  });

  // ---- search ----
  function textOf(node) {
    let text = node.label + "\n" + node.line + "\n" + (node.why || "");
    for (const section of node.sections) text += "\n" + section[1];
    return text.toLowerCase();
  }
  function buildHay() { for (let id = 0; id < nodes.length; id++) if (hay[id] === undefined) hay[id] = textOf(nodes[id]); }
  function search(text) {
    query = text.trim().toLowerCase();
    matches = [];
    matchSet = new Set();
    matchBelow = new Set();
    matchIndex = -1;
    if (query.length > 0) {
      buildHay();
      for (let id = 0; id < nodes.length; id++) if (hay[id].includes(query)) matches.push(id);
      matchSet = new Set(matches);
      for (const id of matches) for (let at = nodes[id].parent; at >= 0 && !matchBelow.has(at); at = nodes[at].parent) matchBelow.add(at);
    }
    $("search-count").textContent = query ? num(matches.length) + (matches.length === 1 ? " match" : " matches") : "";
    for (const [id, row] of rows) decorate(row, id);
    renderDetails();
  }
  function step(by) {
    if (matches.length === 0) return;
    matchIndex = (matchIndex + by + matches.length) % matches.length;
    reveal(matches[matchIndex]);
    $("search-count").textContent = (matchIndex + 1) + " of " + num(matches.length);
  }
  let searchTimer = 0;
  $("search").addEventListener("input", () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => search($("search").value), 120);
  });
  $("search").addEventListener("keydown", (event) => {
    if (event.key !== "Enter") return;
    clearTimeout(searchTimer);
    if ($("search").value.trim().toLowerCase() !== query) search($("search").value);
    step(event.shiftKey ? -1 : 1);
  });
  $("next").addEventListener("click", () => step(1));
  $("prev").addEventListener("click", () => step(-1));

  // ---- the timeline: one canvas; parallel calls in lanes side by side ----
  const COLORS = { iteration: "#4c78a8", llm_query: "#59a14f", rlm_query: "#b07aa1", tool: "#f28e2b" };
  const STATUS_COLORS = { error: "#c62828", limit: "#b26a00", running: "#9ca3af" };
  let lanes = [];
  let items = [];
  let view = [0, 1];
  let span = 1;
  let zoomed = false;
  /** Interval partitioning: each item takes the lane that freed up first (a min-heap of lane ends), or a new one. */
  function partition(group) {
    const heap = [];
    const push = (entry) => {
      heap.push(entry);
      for (let at = heap.length - 1; at > 0;) {
        const up = (at - 1) >> 1;
        if (heap[up][0] <= heap[at][0]) break;
        [heap[up], heap[at]] = [heap[at], heap[up]];
        at = up;
      }
    };
    const pop = () => {
      const top = heap[0];
      const last = heap.pop();
      if (heap.length > 0) {
        heap[0] = last;
        for (let at = 0; ;) {
          const left = 2 * at + 1, right = left + 1;
          let least = at;
          if (left < heap.length && heap[left][0] < heap[least][0]) least = left;
          if (right < heap.length && heap[right][0] < heap[least][0]) least = right;
          if (least === at) break;
          [heap[least], heap[at]] = [heap[at], heap[least]];
          at = least;
        }
      }
      return top;
    };
    for (const item of group) {
      let lane;
      if (heap.length > 0 && heap[0][0] <= item.t0) lane = pop()[1];
      else { lane = lanes.length; lanes.push([]); }
      item.lane = lane;
      lanes[lane].push(item);
      push([item.t1, lane]);
    }
  }
  function buildLanes() {
    items = [];
    span = Math.max(1, model.endAt - model.startAt);
    for (const node of nodes) {
      if (node.t0 === null || (node.kind !== "iteration" && node.kind !== "subcall" && node.kind !== "tool")) continue;
      const end = node.t1 === null ? (node.status === "running" ? span : node.t0) : node.t1;
      items.push({ id: node.id, t0: node.t0, t1: Math.max(end, node.t0), lane: 0 });
    }
    items.sort((a, b) => a.t0 - b.t0 || b.t1 - a.t1);
    lanes = [];
    // Iterations (root calls and their cells) in the top lanes, the calls below them.
    partition(items.filter((item) => nodes[item.id].kind === "iteration"));
    partition(items.filter((item) => nodes[item.id].kind !== "iteration"));
    if (!zoomed) view = [0, span];
    $("timeline-note").textContent = items.length === 0 ? "No timed calls in this trace." :
      num(items.length) + " calls in " + lanes.length + " lanes \u00b7 wheel to zoom, drag to pan, double-click to reset";
  }
  function laneHeight() { return lanes.length <= 16 ? 14 : Math.max(1, 240 / lanes.length); }
  const AXIS = 18;
  function drawTimeline() {
    const canvas = $("timeline");
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 800;
    const height = Math.ceil(Math.max(1, lanes.length) * laneHeight()) + AXIS;
    canvas.style.height = height + "px";
    canvas.width = Math.floor(width * ratio);
    canvas.height = Math.floor(height * ratio);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const scale = width / (view[1] - view[0]);
    const h = laneHeight();
    const gap = h > 4 ? 1 : 0;
    const outlined = [];
    for (const item of items) {
      if (item.t1 < view[0] || item.t0 > view[1]) continue;
      const node = nodes[item.id];
      const x = (item.t0 - view[0]) * scale;
      const w = Math.max(1, (item.t1 - item.t0) * scale);
      ctx.fillStyle = STATUS_COLORS[node.status] || COLORS[node.kind === "subcall" ? kindName(node) : node.kind] || "#888";
      ctx.fillRect(x, item.lane * h + gap, w, h - gap);
      if (node.path || item.id === selected) outlined.push([item, x, w]);
    }
    for (const [item, x, w] of outlined) {
      ctx.strokeStyle = item.id === selected ? "#111827" : "#d4a017";
      ctx.lineWidth = item.id === selected ? 2 : 1.5;
      ctx.strokeRect(x + 0.5, item.lane * h + gap + 0.5, Math.max(1, w - 1), Math.max(1, h - gap - 1));
    }
    const top = lanes.length * h;
    ctx.fillStyle = "#6b7280";
    ctx.font = "11px system-ui, sans-serif";
    const range = view[1] - view[0];
    let stepMs = Math.pow(10, Math.floor(Math.log10(Math.max(range, 1) / 8)));
    if (range / stepMs > 40) stepMs *= 5; else if (range / stepMs > 16) stepMs *= 2;
    for (let tick = Math.ceil(view[0] / stepMs) * stepMs; tick <= view[1]; tick += stepMs) {
      const x = (tick - view[0]) * scale;
      ctx.fillRect(x, top, 1, 4);
      ctx.fillText(time(tick), x + 2, top + 14);
    }
  }
  function itemAt(x, y) {
    const lane = lanes[Math.floor(y / laneHeight())];
    if (!lane) return undefined;
    const canvas = $("timeline");
    const t = view[0] + (x / canvas.clientWidth) * (view[1] - view[0]);
    const slack = (3 / canvas.clientWidth) * (view[1] - view[0]);
    let low = 0, high = lane.length - 1, found = -1;
    while (low <= high) {
      const middle = (low + high) >> 1;
      if (lane[middle].t0 <= t + slack) { found = middle; low = middle + 1; } else high = middle - 1;
    }
    const item = lane[found];
    return item && item.t1 >= t - slack ? item : undefined;
  }
  let drag = null;
  const canvas = $("timeline");
  canvas.addEventListener("mousemove", (event) => {
    if (drag) {
      const shift = ((drag.x - event.offsetX) / canvas.clientWidth) * (drag.view[1] - drag.view[0]);
      view = [drag.view[0] + shift, drag.view[1] + shift];
      zoomed = true;
      drag.moved = drag.moved || Math.abs(drag.x - event.offsetX) > 3;
      drawTimeline();
      return;
    }
    const item = itemAt(event.offsetX, event.offsetY);
    canvas.title = item ? nodes[item.id].label + " \u00b7 " + metrics(nodes[item.id]) + (nodes[item.id].why ? " \u00b7 " + nodes[item.id].why : "") : "";
  });
  canvas.addEventListener("mousedown", (event) => { drag = { x: event.offsetX, view: view.slice(), moved: false }; });
  window.addEventListener("mouseup", (event) => {
    if (drag && !drag.moved && event.target === canvas) {
      const item = itemAt(event.offsetX, event.offsetY);
      if (item) reveal(item.id);
    }
    drag = null;
  });
  canvas.addEventListener("wheel", (event) => {
    event.preventDefault();
    const at = view[0] + (event.offsetX / canvas.clientWidth) * (view[1] - view[0]);
    const factor = event.deltaY < 0 ? 0.8 : 1.25;
    const width = Math.min(span * 1.05, Math.max(1, (view[1] - view[0]) * factor));
    const left = at - (at - view[0]) * (width / (view[1] - view[0]));
    view = [left, left + width];
    zoomed = true;
    drawTimeline();
  }, { passive: false });
  canvas.addEventListener("dblclick", () => { view = [0, span]; zoomed = false; drawTimeline(); });
  window.addEventListener("resize", () => drawTimeline());

  // ---- everything, and the live view ----
  function renderAll() {
    renderOverview();
    renderTree();
    buildLanes();
    drawTimeline();
    if (query) search(query); else renderDetails();
  }
  renderAll();
  window.__traceViewer = { ready: performance.now(), version: () => version, nodes: () => nodes.length };
  const idle = window.requestIdleCallback || ((work) => setTimeout(work, 50));
  idle(() => buildHay());

  if (data.live) {
    const status = $("live");
    const events = new EventSource("events?since=" + version);
    const seenRoots = new Set(model.roots);
    const apply = (next) => {
      // Runs that appear while watching open like the ones there at the start.
      for (const id of next.roots) if (!seenRoots.has(id)) { seenRoots.add(id); expanded.add(id); }
      model = next;
      nodes = model.nodes;
      hay = [];
      idle(() => buildHay());
      renderAll();
    };
    events.addEventListener("model", (event) => { const message = JSON.parse(event.data); version = message.version; apply(message.model); });
    events.addEventListener("patch", (event) => {
      const message = JSON.parse(event.data);
      if (message.base !== version) { events.close(); location.reload(); return; }
      const next = Object.assign({}, model, message.model);
      const list = nodes.slice(0, message.count);
      for (const node of message.nodes) list[node.id] = node;
      next.nodes = list;
      version = message.version;
      apply(next);
    });
    events.addEventListener("open", () => { status.textContent = "\u25cf live"; status.className = "on"; });
    events.addEventListener("error", () => { status.textContent = "\u25cb reconnecting\u2026"; status.className = ""; });
  }
})();
`;
