/**
 * JavaScript that runs inside the guest once per session, before any cell. It defines print/console with a
 * bounded output buffer (head and tail kept), FINAL, FINAL_VAR, SHOW_VARS, and `__rlm.run`, which runs a
 * transformed cell and resolves to a plain, copyable result. It is guest code: it has no host access.
 */
export function guestPrelude(outputLimitChars: number): string {
  return `(() => {
  "use strict";
  const half = Math.max(1, Math.floor(${Math.max(2, outputLimitChars)} / 2));
  let head = "", tail = "", cut = 0, final;
  const safeJson = (value) => {
    const seen = new WeakSet();
    return JSON.stringify(value, (key, item) => {
      if (typeof item === "bigint") return item.toString() + "n";
      if (typeof item === "function") return "[Function " + (item.name || "anonymous") + "]";
      if (typeof item === "symbol") return item.toString();
      if (item instanceof Map) return Object.fromEntries(item);
      if (item instanceof Set) return [...item];
      if (item !== null && typeof item === "object") {
        if (seen.has(item)) return "[Circular]";
        seen.add(item);
      }
      return item;
    });
  };
  const inspect = (value) => {
    if (typeof value === "string") return value;
    if (value === undefined) return "undefined";
    if (typeof value === "function") return "[Function " + (value.name || "anonymous") + "]";
    if (typeof value === "symbol" || typeof value === "bigint") return String(value) + (typeof value === "bigint" ? "n" : "");
    if (value instanceof Error) return value.name + ": " + value.message;
    try {
      const json = safeJson(value);
      return json === undefined ? String(value) : json;
    } catch {
      return String(value);
    }
  };
  const write = (text) => {
    if (head.length < half) {
      const room = half - head.length;
      head += text.slice(0, room);
      text = text.slice(room);
    }
    if (text.length === 0) return;
    tail += text;
    if (tail.length > 2 * half) {
      cut += tail.length - half;
      tail = tail.slice(tail.length - half);
    }
  };
  const print = (...values) => write(values.map(inspect).join(" ") + "\\n");
  const define = (name, value, enumerable) =>
    Object.defineProperty(globalThis, name, { value, writable: true, configurable: true, enumerable });
  define("print", print, false);
  define("console", { log: print, info: print, warn: print, error: print, debug: print }, false);
  define("FINAL", (value) => {
    final = { value: typeof value === "string" || value === undefined ? value : JSON.parse(safeJson(value) ?? "null") };
    return value;
  }, false);
  define("FINAL_VAR", (name) => {
    if (typeof name !== "string") throw new TypeError("FINAL_VAR takes the variable's name as a string, e.g. FINAL_VAR(\\"answer\\")");
    if (!Object.prototype.hasOwnProperty.call(globalThis, name)) {
      throw new ReferenceError("FINAL_VAR: there is no variable named \\"" + name + "\\". Define it first, or call FINAL(value).");
    }
    return globalThis.FINAL(globalThis[name]);
  }, false);
  // The official convention: set answer.content, then answer.ready = true, and the run ends after the cell.
  define("answer", { content: null, ready: false }, false);
  // Atomics.wait would block the isolate thread; WebAssembly memory lives outside the heap limit.
  if (typeof Atomics === "object") delete Atomics.wait;
  delete globalThis.WebAssembly;
  const builtIns = new Set(Object.getOwnPropertyNames(globalThis));
  // Host functions are installed as non-enumerable properties: only the guest's own (enumerable) names show.
  const describe = () => Object.keys(globalThis)
    .filter((name) => !builtIns.has(name) && !name.startsWith("_"))
    .map((name) => {
      const value = globalThis[name];
      const type = value === null ? "null" : Array.isArray(value) ? "array" : typeof value;
      const size = typeof value === "string" || Array.isArray(value) ? value.length
        : value !== null && typeof value === "object" ? Object.keys(value).length : undefined;
      return size === undefined ? { name, type } : { name, type, size };
    });
  define("SHOW_VARS", () => {
    const vars = describe();
    print(vars.length === 0 ? "(no variables yet)" : vars.map((v) => v.name + ": " + v.type + (v.size === undefined ? "" : " (" + v.size + ")")).join("\\n"));
    return vars;
  }, false);
  define("__rlm", {
    describe,
    partial: () => ({ output: cut > 0 ? head + "\\n... [" + cut + " characters cut] ...\\n" + tail : head + tail, cut }),
    read: (name) => Object.prototype.hasOwnProperty.call(globalThis, name)
      ? { value: JSON.parse(safeJson(globalThis[name]) ?? "null") } : undefined,
    async run(cell) {
      head = ""; tail = ""; cut = 0; final = undefined;
      let error;
      try {
        const value = await cell();
        if (value !== undefined) write(inspect(value) + "\\n");
      } catch (caught) {
        error = caught instanceof Error
          ? { name: caught.name, message: caught.message, stack: String(caught.stack) }
          : { name: "Error", message: "uncaught " + inspect(caught), stack: "" };
      }
      const output = cut > 0 ? head + "\\n... [" + cut + " characters cut] ...\\n" + tail : head + tail;
      const answer = globalThis.answer;
      if (final === undefined && answer !== null && typeof answer === "object" && answer.ready === true) {
        globalThis.FINAL(answer.content);
      }
      return { output, cut, error, final };
    },
  }, false);
})();`;
}
