/**
 * Python that runs once in each Pyodide runtime before any cell: the REPL namespace, bounded output capture,
 * trimmed tracebacks, FINAL / FINAL_VAR / SHOW_VARS, the `answer` dict, and the host functions, which call the
 * parent process through a synchronous bridge (`_rlm_host.call`). Our own code, written for rlmkit.
 *
 * Everything here is guest-writable (`import __main__`), so nothing here is a limit the host relies on: output
 * is cut here only to save copying, and the host cuts it again; sizes are checked here only to give the guest a
 * clear error instead of a protocol violation.
 */
export const PYTHON_PRELUDE = String.raw`
import ast, json, sys, traceback, io, builtins, os, posix
import _rlm_host

def _refuse(*args, **kwargs):
    raise PermissionError("not available in the rlmkit Python sandbox: no processes, no host files, no network")

for _module in (os, posix):
    for _name in ("system", "popen", "fork", "forkpty", "execv", "execve", "execvp", "spawnv", "spawnve",
                  "posix_spawn", "posix_spawnp", "kill", "killpg"):
        if hasattr(_module, _name):
            setattr(_module, _name, _refuse)

_ns = {"__name__": "__main__", "__builtins__": builtins}
_state = {"final": None, "has_final": False}
_limit = 20000
# rlmkit echoes a cell's bare last expression, as a notebook does; the official REPL does not (replay turns it off).
_echo_last = True
_max_value_chars = 8 << 20

class _BoundedOutput(io.TextIOBase):
    def __init__(self, limit):
        self.half = max(1, limit // 2)
        self.head = []
        self.head_len = 0
        self.tail = []
        self.tail_len = 0
        self.cut = 0
    def writable(self):
        return True
    def write(self, text):
        text = str(text)
        if self.head_len < self.half:
            room = self.half - self.head_len
            self.head.append(text[:room])
            self.head_len += len(text[:room])
            text = text[room:]
        if text:
            self.tail.append(text)
            self.tail_len += len(text)
            if self.tail_len > 2 * self.half:
                joined = "".join(self.tail)
                self.cut += len(joined) - self.half
                joined = joined[-self.half:]
                self.tail = [joined]
                self.tail_len = len(joined)
        return len(text)
    def value(self):
        head = "".join(self.head)
        tail = "".join(self.tail)
        if self.cut:
            return head + "\n... [" + str(self.cut) + " characters cut] ...\n" + tail
        return head + tail

def _host(name, *args):
    reply = json.loads(_rlm_host.call(name, json.dumps(list(args), default=str)))
    if "error" in reply:
        raise RuntimeError(reply["error"])
    return reply["value"]

def _host_function(name):
    def call(*args, **kwargs):
        if kwargs:
            return _host(name, *args, kwargs)
        return _host(name, *args)
    call.__name__ = name
    return call

def FINAL(value):
    _state["final"] = value
    _state["has_final"] = True
    return value

def FINAL_VAR(name):
    if not isinstance(name, str):
        raise TypeError('FINAL_VAR takes the variable name as a string, e.g. FINAL_VAR("answer")')
    if name not in _ns:
        raise NameError('FINAL_VAR: there is no variable named "' + name + '". Define it first, or call FINAL(value).')
    return FINAL(_ns[name])

_builtin_names = set()
# The REPL's own names (host functions, FINAL..., print, the inputs such as context) and their values: put back
# after every cell that overwrote or deleted them, as the official REPL does.
_scaffold = {}

def _restore_scaffold():
    restored = []
    for name, value in _scaffold.items():
        if _ns.get(name, _restore_scaffold) is not value:
            _ns[name] = value
            restored.append(name)
    return restored

def _describe():
    out = []
    for name, value in list(_ns.items()):
        if name.startswith("_") or name in _builtin_names:
            continue
        kind = type(value).__name__
        entry = {"name": name, "type": kind}
        if isinstance(value, (str, list, dict, tuple, set)):
            entry["size"] = len(value)
        out.append(entry)
    return out

def SHOW_VARS():
    vars_ = _describe()
    if not vars_:
        print("(no variables yet)")
    for v in vars_:
        print(v["name"] + ": " + v["type"] + (" (" + str(v["size"]) + ")" if "size" in v else ""))
    return None

def _as_json(value, fallback=repr):
    # JSON that JavaScript can parse (no NaN); what JSON cannot hold goes as its repr. Guest objects can raise
    # anywhere in here (__repr__, __iter__, ...): that must not fail the cell's reply.
    try:
        return json.dumps(value, allow_nan=False, default=fallback)
    except Exception:
        pass
    try:
        return json.dumps(repr(value))
    except Exception:
        return json.dumps("<" + type(value).__name__ + " object>")

def _json_fallback(value):
    if isinstance(value, (set, frozenset)):
        return list(value)
    return repr(value)

def _too_large(what, text, max_chars):
    return ValueError(what + " is too large to read back: " + str(len(text)) + " characters as JSON, at most " + str(max_chars))

def _export_value(name, max_chars):
    if name not in _ns:
        return None
    text = _as_json(_ns[name], _json_fallback)
    if len(text) > max_chars:
        raise _too_large("the value of " + name, text, max_chars)
    return text

def _describe_json(max_chars):
    text = json.dumps(_describe())
    if len(text) > max_chars:
        raise _too_large("the list of variables", text, max_chars)
    return text

def _trimmed_traceback(error):
    frames = [f for f in traceback.extract_tb(error.__traceback__) if f.filename == "<cell>"]
    line = frames[-1].lineno if frames else getattr(error, "lineno", None)
    text = "".join(traceback.format_list(frames)) + "".join(traceback.format_exception_only(type(error), error))
    message = str(error)[:max(1000, _limit)]
    if isinstance(error, ModuleNotFoundError):
        message += " (only the standard library and the packages of the folder given with --python-packages are available; nothing is downloaded)"
    return {"name": type(error).__name__, "message": message, "line": line, "traceback": text[-4000:]}

def _run_cell(code):
    _state["final"] = None
    _state["has_final"] = False
    out = _BoundedOutput(_limit)
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = out
    error = None
    try:
        tree = ast.parse(code, filename="<cell>", mode="exec")
        last = None
        if tree.body and isinstance(tree.body[-1], ast.Expr):
            last = ast.Expression(tree.body.pop().value)
        exec(compile(tree, "<cell>", "exec"), _ns)
        if last is not None:
            value = eval(compile(last, "<cell>", "eval"), _ns)
            if value is not None and _echo_last:
                print(repr(value) if not isinstance(value, str) else value)
    except BaseException as caught:
        error = _trimmed_traceback(caught)
    finally:
        sys.stdout, sys.stderr = old_out, old_err
    restored = _restore_scaffold()
    if restored:
        out.write("[note: " + ", ".join(restored) + " " + ("is a name" if len(restored) == 1 else "are names") + " of the REPL and " + ("was" if len(restored) == 1 else "were") + " restored after this cell; keep your own values under other names]\n")
    answer = _ns.get("answer")
    if not _state["has_final"] and isinstance(answer, dict) and answer.get("ready") is True:
        FINAL(answer.get("content"))
    final = None
    if _state["has_final"]:
        final = _as_json(_state["final"], None)
        if len(final) > _max_value_chars:
            too_large = _too_large("the value given to FINAL", final, _max_value_chars)
            error = {"name": "ValueError", "message": str(too_large), "line": None, "traceback": ""}
            final = None
    result = {"output": out.value(), "cut": out.cut}
    if error is not None:
        result["error"] = error
    text = json.dumps(result)
    if final is not None:
        # The final value is JSON already: splice it in rather than encode it twice.
        text = text[:-1] + ', "final": {"value": ' + final + "}}"
    return text

_incoming = None

def _new_buffer(size):
    global _incoming
    _incoming = bytearray(size)
    return _incoming

def _decode_buffer(name):
    global _incoming
    _ns[name] = _incoming.decode("utf-8")
    _scaffold[name] = _ns[name]
    _incoming = None

def _set_input(name, value):
    _ns[name] = value
    _scaffold[name] = value

def _setup(host_names, limit, max_value_chars):
    global _limit, _max_value_chars
    _limit = limit
    _max_value_chars = max_value_chars
    for name in host_names:
        _ns[name] = _host_function(name)
    _ns.update({"FINAL": FINAL, "FINAL_VAR": FINAL_VAR, "SHOW_VARS": SHOW_VARS, "print": print})
    _ns["answer"] = {"content": None, "ready": False}
    _builtin_names.update(_ns.keys())
    _builtin_names.discard("answer")
    for name in _builtin_names:
        if name not in ("__name__", "__builtins__"):
            _scaffold[name] = _ns[name]
`;
