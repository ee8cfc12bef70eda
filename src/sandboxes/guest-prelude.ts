import { ASYNC_PREFIX } from "./cell-transform.ts";

/** The name the prelude's code has in guest stack traces (no host path). */
export const PRELUDE_FILENAME = "rlm-prelude.js";

/** Largest value, as characters of JSON, that FINAL and a host-side read hand back. */
export const VALUE_LIMIT_CHARS = 10_000_000;

/** Longest stack the guest reports for a cell's error (only its line number is used). */
const STACK_LIMIT_CHARS = 10_000;

/** Most variables SHOW_VARS and listVariables report. */
export const LISTED_VARIABLES_LIMIT = 1_000;
/**
 * The most characters of arguments one host call takes. Arguments are copied into the host's heap, so the guest's
 * own memory limit does not bound them: the prelude measures them (strings as they are, anything else as JSON it
 * makes itself, so no getter can change a value between measuring and copying) and refuses a call over this.
 */
export const HOST_ARG_LIMIT_CHARS = 64 * 1024 * 1024;
/**
 * The most characters of arguments that the session's host calls in flight hold at once. isolated-vm copies a
 * call's arguments when it is made, before the host runs it, so this is counted here, on the guest's side of the
 * copy; a cell starts counting afresh (calls an ended cell left behind are dropped or cancelled by then).
 */
export const HOST_IN_FLIGHT_CHARS = 256 * 1024 * 1024;
/** The longest array one host call takes (a sparse array of length 2^32-1 is refused before it is walked). */
export const HOST_ARRAY_LIMIT = 1_000_000;

/**
 * What the prelude hands the host. The host takes References to these functions right after the prelude ran,
 * before any guest code, and calls them through those References: they are never reachable from guest code.
 */
export type PreludeFunction = "run" | "partial" | "read" | "describe" | "install" | "define" | "seal";

/**
 * JavaScript that runs inside the guest once per isolate, before any cell. It defines print/console with a
 * bounded output buffer (head and tail kept), FINAL, FINAL_VAR, SHOW_VARS and `answer`, and evaluates to a frozen
 * object of the functions the host calls (see PreludeFunction), which it keeps in its closure only.
 *
 * Guest code may replace any built-in, so everything the prelude uses at call time is captured here, before any
 * guest code runs, and called through Reflect.apply. Objects the prelude builds have no prototype (or are filled
 * with defineProperty) so that setters or getters a guest puts on Object.prototype never see them. What the guest
 * can still do, under the cell's time limit, is run its own code from getters, toJSON or proxies in its own
 * values; the host bounds time and size of everything it gets back.
 */
export function guestPrelude(outputLimitChars: number): string {
  return `(() => {
  "use strict";
  const globalObject = globalThis;
  const { apply, getOwnPropertyDescriptor } = Reflect;
  const { stringify } = JSON;
  const { keys, getOwnPropertyNames, freeze, defineProperty } = Object;
  const { isArray } = Array;
  const arrayJoin = Array.prototype.join;
  const { max, floor } = Math;
  const StringOf = String;
  const PromiseOf = Promise;
  const WeakSetOf = WeakSet;
  const hasOwnProperty = Object.prototype.hasOwnProperty;
  const isPrototypeOf = Object.prototype.isPrototypeOf;
  const stringSlice = String.prototype.slice;
  const promiseThen = Promise.prototype.then;
  const mapForEach = Map.prototype.forEach;
  const setForEach = Set.prototype.forEach;
  const mapSize = getOwnPropertyDescriptor(Map.prototype, "size").get;
  const setSize = getOwnPropertyDescriptor(Set.prototype, "size").get;
  const weakSetHas = WeakSet.prototype.has;
  const weakSetAdd = WeakSet.prototype.add;
  const symbolToString = Symbol.prototype.toString;
  const bigintToString = BigInt.prototype.toString;
  const captureStackTrace = Error.captureStackTrace;
  const ErrorPrototype = Error.prototype;
  const errorTypes = freeze({ __proto__: null, Error, TypeError, RangeError, SyntaxError, ReferenceError, EvalError, URIError });

  const half = ${Math.max(1, Math.floor(Math.max(2, outputLimitChars) / 2))};
  const valueLimit = ${VALUE_LIMIT_CHARS};
  const listedLimit = ${LISTED_VARIABLES_LIMIT};
  const messageLimit = ${Math.max(200, outputLimitChars)};
  const stackLimit = ${STACK_LIMIT_CHARS};

  const hasOwn = (target, key) => apply(hasOwnProperty, target, [key]);
  const slice = (text, start, end) => apply(stringSlice, text, end === undefined ? [start] : [start, end]);
  const put = (target, key, value) =>
    defineProperty(target, key, { __proto__: null, value, writable: true, enumerable: true, configurable: true });
  const isError = (value) => value !== null && typeof value === "object" && apply(isPrototypeOf, ErrorPrototype, [value]);
  const hasBrand = (getter, value) => {
    try {
      apply(getter, value, []);
      return true;
    } catch {
      return false;
    }
  };
  const textOf = (value) => {
    try {
      return typeof value === "string" ? value : StringOf(value);
    } catch {
      return "[unprintable value]";
    }
  };
  const marker = (cut) => "\\n... [" + cut + " characters cut] ...\\n";
  const clip = (text, limit) => {
    if (text.length <= limit) return text;
    const keep = max(1, floor(limit / 2));
    return slice(text, 0, keep) + marker(text.length - 2 * keep) + slice(text, text.length - keep);
  };
  const functionName = (fn) => {
    const name = fn.name;
    return typeof name === "string" && name !== "" ? name : "anonymous";
  };

  const safeJson = (value) => {
    const seen = new WeakSetOf();
    return stringify(value, (key, item) => {
      if (typeof item === "bigint") return apply(bigintToString, item, []) + "n";
      if (typeof item === "function") return "[Function " + functionName(item) + "]";
      if (typeof item === "symbol") return apply(symbolToString, item, []);
      if (item !== null && typeof item === "object") {
        if (apply(weakSetHas, seen, [item])) return "[Circular]";
        apply(weakSetAdd, seen, [item]);
        if (hasBrand(mapSize, item)) {
          const entries = {};
          apply(mapForEach, item, [(entry, name) => put(entries, textOf(name), entry)]);
          return entries;
        }
        if (hasBrand(setSize, item)) {
          const members = [];
          apply(setForEach, item, [(member) => put(members, members.length, member)]);
          return members;
        }
      }
      return item;
    });
  };
  const inspect = (value) => {
    if (typeof value === "string") return value;
    if (value === undefined) return "undefined";
    if (typeof value === "function") return "[Function " + functionName(value) + "]";
    if (typeof value === "symbol") return apply(symbolToString, value, []);
    if (typeof value === "bigint") return apply(bigintToString, value, []) + "n";
    if (isError(value)) return textOf(value.name) + ": " + textOf(value.message);
    try {
      const json = safeJson(value);
      return json === undefined ? textOf(value) : json;
    } catch {
      return textOf(value);
    }
  };

  // The output of the cell running now. A fresh buffer per cell: an abandoned cell resumed later writes into
  // the buffer of the cell that resumed it, never into a finished one.
  const newBuffer = () => ({ __proto__: null, head: "", tail: "", cut: 0, final: undefined });
  let current = newBuffer();
  // Characters of arguments held by this cell's host calls in flight; a call of an earlier cell no longer counts.
  let inFlightChars = 0;
  let cellNumber = 0;
  const write = (text, buffer = current) => {
    let rest = text;
    if (buffer.head.length < half) {
      const room = half - buffer.head.length;
      buffer.head += slice(rest, 0, room);
      rest = slice(rest, room);
    }
    if (rest.length === 0) return;
    buffer.tail += rest;
    if (buffer.tail.length > 2 * half) {
      buffer.cut += buffer.tail.length - half;
      buffer.tail = slice(buffer.tail, buffer.tail.length - half);
    }
  };
  const render = (buffer) => (buffer.cut > 0 ? buffer.head + marker(buffer.cut) + buffer.tail : buffer.head + buffer.tail);
  const print = (...values) => {
    let line = "";
    for (let index = 0; index < values.length; index++) line += (index === 0 ? "" : " ") + inspect(values[index]);
    write(line + "\\n");
  };

  // FINAL keeps a snapshot (JSON text) taken when it is called: later changes to the value do not count.
  const finalOf = (value) => {
    if (value === undefined) return { __proto__: null, json: null };
    const json = safeJson(value);
    if (json !== undefined && json.length > valueLimit) {
      throw new errorTypes.RangeError("FINAL: the answer is too large (" + json.length + " characters as JSON, over the limit of " + valueLimit + "). Return a shorter answer.");
    }
    return { __proto__: null, json: json === undefined ? "null" : json };
  };
  const FINAL = (value) => {
    current.final = finalOf(value);
    return value;
  };
  const FINAL_VAR = (name) => {
    if (typeof name !== "string") throw new errorTypes.TypeError("FINAL_VAR takes the variable's name as a string, e.g. FINAL_VAR(\\"answer\\")");
    if (!hasOwn(globalObject, name)) {
      throw new errorTypes.ReferenceError("FINAL_VAR: there is no variable named \\"" + clip(name, 200) + "\\". Define it first, or call FINAL(value).");
    }
    return FINAL(globalObject[name]);
  };

  const builtIns = { __proto__: null };
  const describe = () => {
    const names = keys(globalObject);
    const variables = [];
    for (let index = 0; index < names.length && variables.length < listedLimit; index++) {
      const name = names[index];
      if (name in builtIns || slice(name, 0, 1) === "_") continue;
      let type = "unknown";
      let size;
      try {
        const value = globalObject[name];
        type = value === null ? "null" : isArray(value) ? "array" : typeof value;
        if (typeof value === "string" || isArray(value)) size = value.length;
        else if (value !== null && typeof value === "object") size = keys(value).length;
      } catch {
        // a getter or proxy that throws: listed with an unknown type
      }
      put(variables, variables.length, typeof size === "number"
        ? { __proto__: null, name, type, size }
        : { __proto__: null, name, type });
    }
    return variables;
  };
  const SHOW_VARS = () => {
    const variables = describe();
    let text = variables.length === 0 ? "(no variables yet)" : "";
    for (let index = 0; index < variables.length; index++) {
      const variable = variables[index];
      text += (index === 0 ? "" : "\\n") + variable.name + ": " + variable.type + (variable.size === undefined ? "" : " (" + variable.size + ")");
    }
    print(text);
    return variables;
  };

  const defineFixed = (name, value) =>
    defineProperty(globalObject, name, { __proto__: null, value, writable: false, enumerable: false, configurable: false });
  defineFixed("print", print);
  defineFixed("console", freeze({ log: print, info: print, warn: print, error: print, debug: print }));
  defineFixed("FINAL", FINAL);
  defineFixed("FINAL_VAR", FINAL_VAR);
  defineFixed("SHOW_VARS", SHOW_VARS);
  // The official convention: set answer.content, then answer.ready = true, and the run ends after the cell.
  defineProperty(globalObject, "answer", { __proto__: null, value: { content: null, ready: false }, writable: true, enumerable: false, configurable: true });
  // Atomics.wait would block the isolate thread, and Atomics.waitAsync is a timer that could wake guest code
  // between cells; WebAssembly memory lives outside the heap limit.
  if (typeof Atomics === "object") {
    delete Atomics.wait;
    delete Atomics.waitAsync;
  }
  delete globalObject.WebAssembly;
  const builtInNames = getOwnPropertyNames(globalObject);
  for (let index = 0; index < builtInNames.length; index++) builtIns[builtInNames[index]] = true;

  // Never throws: whatever the guest threw (an Error, a proxy, a string of 50 MB) becomes short plain text.
  const describeError = (caught) => {
    try {
      if (isError(caught)) {
        return { __proto__: null, name: clip(textOf(caught.name), 200), message: clip(textOf(caught.message), messageLimit), stack: clip(textOf(caught.stack), stackLimit) };
      }
      return { __proto__: null, name: "Error", message: clip("uncaught " + inspect(caught), messageLimit), stack: "" };
    } catch {
      return { __proto__: null, name: "Error", message: "uncaught value that could not be described", stack: "" };
    }
  };
  const finish = (buffer, value, caught) => {
    let error = caught === undefined ? undefined : describeError(caught.error);
    try {
      if (error === undefined && value !== undefined) write(inspect(value) + "\\n", buffer);
      const restored = restoreScaffold();
      if (restored.length > 0) {
        const one = restored.length === 1;
        write("[note: " + apply(arrayJoin, restored, [", "]) + (one ? " is a name" : " are names") + " of the REPL and " + (one ? "was" : "were") + " restored after this cell; keep your own values under other names]\\n", buffer);
      }
      const answer = globalObject.answer;
      if (buffer.final === undefined && answer !== null && typeof answer === "object" && answer.ready === true) {
        buffer.final = finalOf(answer.content);
      }
    } catch (late) {
      error ??= describeError(late);
    }
    return { __proto__: null, output: render(buffer), cut: buffer.cut, error, final: buffer.final };
  };
  // Runs one cell (the async function a transformed cell evaluates to). It settles through the captured
  // Promise.prototype.then, so a guest that patched Promise still gets its result reported.
  const run = (cell) => {
    inFlightChars = 0;
    cellNumber++;
    const buffer = newBuffer();
    current = buffer;
    if (typeof cell !== "function") return finish(buffer, undefined, { error: new errorTypes.TypeError("not a cell") });
    let settled;
    try {
      settled = cell();
    } catch (error) {
      return finish(buffer, undefined, { error });
    }
    return new PromiseOf((resolve) => {
      apply(promiseThen, settled, [
        (value) => resolve(finish(buffer, value, undefined)),
        (error) => resolve(finish(buffer, undefined, { error })),
      ]);
    });
  };
  const partial = () => ({ __proto__: null, output: render(current), cut: current.cut });
  const read = (name) => {
    if (!hasOwn(globalObject, name)) return { __proto__: null, found: false };
    const json = safeJson(globalObject[name]) ?? "null";
    return json.length > valueLimit
      ? { __proto__: null, found: true, tooLarge: json.length }
      : { __proto__: null, found: true, json };
  };
  // The REPL's own names (host functions, the inputs such as context, what the setup code defined) and their
  // values: put back after every cell that overwrote or deleted them, as the official REPL does.
  const scaffold = { __proto__: null };
  const define = (name, value, enumerable) => {
    defineProperty(globalObject, name, { __proto__: null, value, writable: true, enumerable, configurable: true });
    scaffold[name] = { __proto__: null, value, enumerable };
  };
  // After the setup code: the names it added (context_0 and friends) are the REPL's too; \`answer\` is the guest's.
  const seal = () => {
    const names = getOwnPropertyNames(globalObject);
    for (let index = 0; index < names.length; index++) {
      const name = names[index];
      if (name in builtIns || name in scaffold || name === "answer") continue;
      const descriptor = getOwnPropertyDescriptor(globalObject, name);
      if (descriptor !== undefined && hasOwn(descriptor, "value")) {
        scaffold[name] = { __proto__: null, value: descriptor.value, enumerable: descriptor.enumerable === true };
      }
    }
  };
  const restoreScaffold = () => {
    const restored = [];
    const names = keys(scaffold);
    for (let index = 0; index < names.length; index++) {
      const name = names[index];
      const entry = scaffold[name];
      const descriptor = getOwnPropertyDescriptor(globalObject, name);
      if (descriptor !== undefined && hasOwn(descriptor, "value") && descriptor.value === entry.value) continue;
      try {
        defineProperty(globalObject, name, { __proto__: null, value: entry.value, writable: true, enumerable: entry.enumerable, configurable: true });
        put(restored, restored.length, name);
      } catch {
        // made non-configurable by the guest: it stays as the guest left it
      }
    }
    return restored;
  };

  // A host function as two globals: the blocking one (the guest gets the value directly) and its concurrent twin
  // (a promise; \`await f()\` calls it). The host answers with an envelope and never throws across the boundary,
  // so the error the guest sees is made here, from a name and a message, with guest frames only.
  const makeError = (name, message, caller) => {
    const Type = errorTypes[name] ?? errorTypes.Error;
    const error = new Type(message);
    if (Type === errorTypes.Error && name !== "Error") {
      defineProperty(error, "name", { __proto__: null, value: name, writable: true, enumerable: false, configurable: true });
    }
    if (caller !== undefined) captureStackTrace(error, caller);
    return error;
  };
  const own = (target, key) => (target !== null && typeof target === "object" && hasOwn(target, key) ? target[key] : undefined);
  const unwrap = (envelope, caller) => {
    if (own(envelope, "ok") === true) return own(envelope, "value");
    const name = own(envelope, "name");
    const message = own(envelope, "message");
    throw makeError(typeof name === "string" ? name : "Error", typeof message === "string" ? message : "the host function failed", caller);
  };
  // Options objects without a prototype: a guest that sets Object.prototype.result cannot change how values cross.
  const blockingOptions = freeze({ __proto__: null, arguments: freeze({ __proto__: null, copy: true }) });
  const concurrentOptions = freeze({
    __proto__: null,
    arguments: freeze({ __proto__: null, copy: true }),
    result: freeze({ __proto__: null, promise: true }),
  });
  // Arguments cross as strings, plain primitives, or { json } made here: measured exactly, then copied.
  const hostArgLimit = ${HOST_ARG_LIMIT_CHARS};
  const inFlightLimit = ${HOST_IN_FLIGHT_CHARS};
  const hostArrayLimit = ${HOST_ARRAY_LIMIT};
  // JSON of a value for the host; a function or symbol cannot cross (the host never calls guest code).
  const plainJson = (name, value, caller) => {
    const refuse = () => {
      throw makeError("TypeError", name + ": a function or symbol could not be cloned to the host; pass plain data", caller);
    };
    if (typeof value === "function" || typeof value === "symbol") refuse();
    return stringify(value, (key, item) => {
      if (typeof item === "function" || typeof item === "symbol") refuse();
      return typeof item === "bigint" ? apply(bigintToString, item, []) : item;
    });
  };
  const pack = (name, args, caller) => {
    const packed = [];
    let size = 0;
    for (let index = 0; index < args.length; index++) {
      const value = args[index];
      let item = value;
      if (typeof value === "string") size += value.length;
      else if (value === undefined || value === null || typeof value === "number" || typeof value === "boolean") size += 8;
      else if (isArray(value) && value.length > hostArrayLimit) {
        throw makeError("RangeError", name + ": an array of " + value.length + " items is more than a host call takes (at most " + hostArrayLimit + ")", caller);
      } else {
        const json = plainJson(name, value, caller);
        item = { __proto__: null, json: json === undefined ? "null" : json };
        size += item.json.length;
      }
      if (size > hostArgLimit) {
        throw makeError("RangeError", name + ": the arguments are over " + hostArgLimit + " characters, more than one host call takes; pass smaller pieces", caller);
      }
      put(packed, index, item);
    }
    if (inFlightChars + size > inFlightLimit) {
      throw makeError("RangeError", name + ": host calls in flight already hold " + inFlightChars + " characters of arguments (at most " + inFlightLimit + "); await some before sending more", caller);
    }
    inFlightChars += size;
    const owner = cellNumber;
    const release = () => {
      if (owner === cellNumber) inFlightChars -= size;
    };
    return { __proto__: null, packed, release };
  };
  const install = (name, blocking, concurrent) => {
    const applySyncPromise = blocking.applySyncPromise;
    const applyAsync = concurrent.apply;
    const call = (...args) => {
      const { packed, release } = pack(name, args, call);
      try {
        return unwrap(apply(applySyncPromise, blocking, [undefined, packed, blockingOptions]), call);
      } finally {
        release();
      }
    };
    const callConcurrently = (...args) => {
      const { packed, release } = pack(name, args, callConcurrently);
      const settle = (envelope) => {
        release();
        return unwrap(envelope, settle);
      };
      const fail = (error) => {
        release();
        throw error;
      };
      return apply(promiseThen, apply(applyAsync, concurrent, [undefined, packed, concurrentOptions]), [settle, fail]);
    };
    define(name, call, false);
    define(${JSON.stringify(ASYNC_PREFIX)} + name, callConcurrently, false);
  };

  return freeze({ __proto__: null, run, partial, read, describe, install, define, seal });
})()`;
}
