"""Record what a student's method computes, line by line, so crosscheck.blame can find where it goes wrong.

`trace_call` runs the method once under `sys.settrace` (CPython 3.11), following calls into every function
defined in the student's own files (their folder, or a notebook's cells): a subclass overriding one helper, a
module-level `sigmoid_prime`, a list comprehension. After each line it records the float arrays that line bound
or changed: local names, the items of local lists and tuples (`nabla_w[1]`, `zs[0]`), and the attributes of
the method's object (`self.zs[0]`). Each record (a Binding) keeps the line, the loop pass, the array's name and
the bindings that line read, so the records form a data-flow graph: which arrays each array was made from.

What a line reads is found statically, from the line's statement: the names it loads (`delta`, `w`), items
whose index can be evaluated from integer locals (`activations[-l - 1]`), attributes of the object
(`self.weights`), and the values returned by student functions it called. An array met again unchanged (a
loop variable, an argument, `w = self.weights[l]`) is the binding it came from, found by identity and value.

Bounded: only arrays whose shape is one the harness asked for (a reference intermediate's, or its transpose),
at most MAX_BINDINGS records and MAX_BYTES of arrays; a note says when a cap was reached. NumPy and the
standard library only: it runs in the sandboxed worker, and what it sends back is data (protocol.py).
"""

from __future__ import annotations

import ast
import linecache
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np

from crosscheck.student.notebook_source import cell_of

MAX_BINDINGS = 4000
MAX_BYTES = 48 << 20
MAX_LINE_EVENTS = 200_000
MAX_ITEMS = 64  # items of one list or tuple looked into
CONTEXT = 2  # source lines kept on each side of a recorded line
PACKAGE = Path(__file__).resolve().parents[1]  # the harness's own code is never traced


@dataclass
class Binding:
    """One array a line of the student's code produced."""

    seq: int
    frame: int  # the call (Frame.serial) whose line produced it
    line: int  # the statement's first line
    iteration: int  # how many times that line had run before in that call
    name: str  # "delta", "nabla_w[1]", "self.zs[0]", "return[0][1]", "argument z of sigmoid_prime"
    reads: list[int]  # the bindings the line read (its inputs)
    replaced: int | None = None  # the binding this array held before the line changed it in place (`sp *= ...`)


@dataclass
class Frame:
    """One call of a student's function."""

    serial: int
    file: str  # relative to the submission's folder, or the notebook's name
    cell: int | None
    function: str
    args: list[int] = field(default_factory=list)  # bindings of its array arguments
    returned: list[int] = field(default_factory=list)
    parent: int | None = None  # the calling frame, if the caller is the student's too
    call_line: int | None = None  # the caller's line that made the call
    return_line: int | None = None  # the line it returned from


@dataclass
class Trace:
    """What the traced call computed: the bindings (with their arrays), the calls, the source lines, and the
    bindings of the result (`return[...]` paths, or the object's attributes for a method returning nothing)."""

    bindings: list[Binding] = field(default_factory=list)
    arrays: list[np.ndarray] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)
    result: dict[str, int] = field(default_factory=dict)
    lines: dict[str, dict[int, str]] = field(default_factory=dict)  # "file|cell" -> line number -> text
    note: str = ""
    stores: list[tuple[int, int, str, int]] = field(default_factory=list)  # (frame, line, name, binding): an array
    # recorded before, put under another name (`nabla_b[-1] = delta`, `return z`): where a value takes a role

    def to_wire(self) -> tuple[dict, list[np.ndarray]]:
        header = {"bindings": [[b.seq, b.frame, b.line, b.iteration, b.name, b.reads, b.replaced]
                               for b in self.bindings],
                  "frames": [[f.serial, f.file, f.cell, f.function, f.args, f.returned, f.parent, f.call_line,
                              f.return_line] for f in self.frames],
                  "result": self.result, "lines": {k: {str(n): t for n, t in v.items()} for k, v in self.lines.items()},
                  "note": self.note, "stores": [list(t) for t in self.stores]}
        return header, self.arrays

    @classmethod
    def from_wire(cls, header: dict, arrays: list[np.ndarray]) -> Trace:
        """The trace the worker sent, every field checked (the worker is not trusted): ValueError if malformed."""
        try:
            bindings = [Binding(int(s), int(f), int(line), int(i), str(name)[:120], [int(r) for r in reads][:256],
                                _int_or_none(replaced))
                        for s, f, line, i, name, reads, replaced in header["bindings"]]
            frames = [Frame(int(s), str(file)[:200], _int_or_none(cell), str(fn)[:120], [int(a) for a in args][:64],
                            [int(r) for r in ret][:256], _int_or_none(parent), _int_or_none(call), _int_or_none(back))
                      for s, file, cell, fn, args, ret, parent, call, back in header["frames"]]
            result = {str(k)[:120]: int(v) for k, v in dict(header["result"]).items()}
            lines = {str(k)[:220]: {int(n): str(t)[:240] for n, t in dict(v).items()}
                     for k, v in dict(header["lines"]).items()}
            note = str(header.get("note", ""))[:300]
            stores = [(int(f), int(line), str(name)[:120], int(seq)) for f, line, name, seq in header["stores"]]
        except (KeyError, TypeError, ValueError) as error:
            raise ValueError(f"malformed trace: {type(error).__name__}") from None
        n = len(bindings)
        if (len(arrays) != n or any(b.seq != k or not 0 <= b.frame < len(frames) for k, b in enumerate(bindings))
                or any(f.serial != k or f.parent is not None and not 0 <= f.parent < k for k, f in enumerate(frames))
                or any(not 0 <= r < n for b in bindings for r in b.reads)
                or any(b.replaced is not None and not 0 <= b.replaced < n for b in bindings)
                or any(not 0 <= r < n for f in frames for r in (*f.args, *f.returned))
                or any(not 0 <= r < n for r in result.values())
                or any(not (0 <= f < len(frames) and 0 <= seq < n) for f, _, _, seq in stores)):
            raise ValueError("malformed trace: inconsistent references")
        return cls(bindings, list(arrays), frames, result, lines, note, stores)


@dataclass
class _State:
    """The tracer's view of one live call."""

    frame: Frame
    code: Any
    parent: _State | None
    keys: dict[str, int] = field(default_factory=dict)  # name -> binding now bound to it
    seen: dict[str, tuple[int, np.ndarray]] = field(default_factory=dict)  # name -> (id, the value recorded)
    statement: tuple[int, int] | None = None  # (first, last) line of the statement under way
    start: int = -1  # the bytecode offset it began at
    reads: list[int] = field(default_factory=list)
    parts: dict[str, list[int]] = field(default_factory=dict)  # what each part of a tuple statement reads
    calls: list[int] = field(default_factory=list)  # bindings returned by student calls during that statement
    passes: dict[int, int] = field(default_factory=dict)
    started: bool = False
    rounds: list[list[int]] = field(default_factory=list)  # a comprehension's: its variables' arrays, per element


class Tracer:
    """folder: the submission's folder (its files are the student's); files: more files of the student's (a class
    defined in a Jupyter cell has no folder: its functions' own file names)."""

    def __init__(self, folder: Path | None, shapes: set[tuple[int, ...]], files: frozenset[str] = frozenset()):
        self.folder = Path(folder).resolve() if folder is not None else None
        self.files = files
        self.shapes = shapes | {s[::-1] for s in shapes}
        self.trace = Trace()
        self.bytes = 0
        self.line_events = 0
        self.full = False
        self.by_id: dict[int, list[int]] = {}
        self.states: dict[int, _State] = {}
        self.stack: list[_State] = []
        self._mine: dict[str, tuple[str, int | None] | None] = {}
        self._statements: dict[str, dict[int, tuple[int, int, list]]] = {}

    # which code is the student's

    def _student_file(self, filename: str) -> tuple[str, int | None] | None:
        """(shown file name, notebook cell) for a file of the student's, None for any other."""
        if filename not in self._mine:
            path, cell = cell_of(filename) or (filename, None)
            self._mine[filename] = None
            try:
                resolved = Path(path).resolve()
                if resolved.is_relative_to(PACKAGE):
                    return None
                if self.folder is not None and resolved.is_relative_to(self.folder):
                    self._mine[filename] = (resolved.relative_to(self.folder).as_posix(), cell)
                elif filename in self.files:
                    self._mine[filename] = (Path(path).name, cell)
            except (OSError, ValueError):
                pass
        return self._mine[filename]

    # sys.settrace's callbacks

    def on_call(self, frame: Any, event: str, arg: Any) -> Callable | None:
        if event != "call" or self.full:
            return None
        where = self._student_file(frame.f_code.co_filename)
        if where is None:
            return None
        parent = self.stack[-1] if self.stack else None
        record = Frame(len(self.trace.frames), where[0], where[1], frame.f_code.co_qualname,
                       parent=parent.frame.serial if parent else None,
                       call_line=parent.statement[0] if parent and parent.statement else None)
        self.trace.frames.append(record)
        state = _State(record, frame.f_code, parent)
        self.states[id(frame)] = state
        self.stack.append(state)
        return self.on_event

    def on_event(self, frame: Any, event: str, arg: Any) -> Callable | None:
        state = self.states.get(id(frame))
        if state is None:
            return None
        self.line_events += 1
        if self.line_events > MAX_LINE_EVENTS:
            self._stop(f"stopped after {MAX_LINE_EVENTS} traced lines")
        if event == "line" and not self.full:
            self._line(state, frame)
        elif event == "return":
            self._return(state, frame, arg)
        return self.on_event  # when full, still to the return: what the call returns is known arrays, by identity

    def _line(self, state: _State, frame: Any) -> None:
        if frame.f_code.co_name in COMPREHENSIONS:
            self._round(state, frame)
            return
        first, last, reads, parts = self._statement(frame.f_code.co_filename, frame.f_lineno)
        if state.statement == (first, last) and frame.f_lasti > state.start:
            return  # further on in the same statement (a multi-line call); a loop's next pass jumps back
        self._settle(state, frame)
        state.statement, state.start = (first, last), frame.f_lasti
        state.passes[first] = state.passes.get(first, 0) + 1
        state.calls = []
        names = frame.f_locals
        state.reads = self._resolve(state, names, reads)
        state.parts = {key: self._resolve(state, names, part_reads) for target, part_reads in parts
                       if (key := _target_key(target, names)) is not None}

    def _round(self, state: _State, frame: Any) -> None:
        """A comprehension's frame: a line event opens it and each jump back to its loop follows a round, so the
        arrays its variables hold at each event after the first are what one element was made of."""
        if not self.full:
            self._settle(state, frame)
        if state.statement is None:
            first = self._statement(frame.f_code.co_filename, frame.f_lineno)[0]
            state.statement, state.start = (first, first), frame.f_lasti
            state.passes[first] = 1
        elif state.keys:
            state.rounds.append(list(state.keys.values()))

    def _return(self, state: _State, frame: Any, value: Any) -> None:
        comprehension = frame.f_code.co_name in COMPREHENSIONS
        if comprehension:
            self._round(state, frame)
        elif not self.full:
            self._settle(state, frame)
        line = state.statement[0] if state.statement else frame.f_code.co_firstlineno
        state.frame.return_line = line
        for key, array in _arrays("return", value, 0, self._wanted):
            seq = self._alias(array)
            if seq is None:
                reads = self._reads_for(state, key)
                if comprehension:  # element i: what round i's variables held
                    k = int(key[len("return["):].split("]")[0]) if key.startswith("return[") else -1
                    reads = state.rounds[k] if 0 <= k < len(state.rounds) else [r for rs in state.rounds for r in rs]
                seq = self._bind(state, key, array, line, reads)
            if seq is not None:
                state.frame.returned.append(seq)
                if state.parent is None:
                    self.trace.result[key] = seq
        if state.parent is None:  # the traced method: its object's final attributes, for one that returns nothing
            self.trace.result.update({k: v for k, v in state.keys.items() if "." in k.split("[")[0]})
        else:
            state.parent.calls += state.frame.returned
        self.states.pop(id(frame), None)
        if self.stack and self.stack[-1] is state:
            self.stack.pop()

    # recording

    def _wanted(self, value: np.ndarray) -> bool:
        return value.dtype.kind == "f" and value.ndim in (1, 2) and value.size > 0 and value.shape in self.shapes

    def _settle(self, state: _State, frame: Any) -> None:
        """Record what changed since the statement under way began, as produced by it."""
        current = dict(self._locals(frame, state))
        if not state.started:  # the call's arguments: arrays met before, or made by the caller's line
            state.started = True
            for key, array in current.items():
                seq = self._alias(array)
                if seq is None:
                    seq = self._argument(state, key, array)
                if seq is not None:
                    state.keys[key] = seq
                    state.seen[key] = (id(array), self.trace.arrays[seq])
                    state.frame.args.append(seq)
            return
        line = state.statement[0] if state.statement else frame.f_code.co_firstlineno
        changed = [(key, array) for key, array in current.items() if not _same(state.seen.get(key), array)]
        # an array the line read and that changed in place while it ran (a helper's `a -= y`): read as it is after
        in_place = [self._alias(array) for key, array in changed
                    if state.keys.get(key) in state.reads and state.seen[key][0] == id(array)]
        for key, array in changed:
            known = state.seen.get(key)
            seq = self._alias(array)
            if seq is None:
                replaced = state.keys.get(key) if known and known[0] == id(array) else None
                reads = self._reads_for(state, key) + [r for r in in_place if r is not None]
                seq = self._bind(state, key, array, line, reads, replaced)
            elif len(self.trace.stores) < MAX_BINDINGS:
                self.trace.stores.append((state.frame.serial, line, key, seq))
            if seq is None:
                return
            state.keys[key] = seq
            state.seen[key] = (id(array), self.trace.arrays[seq])
        for key in [k for k in state.keys if k not in current]:
            del state.keys[key], state.seen[key]

    @staticmethod
    def _reads_for(state: _State, key: str) -> list[int]:
        """What produced `key` read: its own part of a tuple statement (`return (nabla_b, nabla_w)`,
        `a, b = f(x), g(y)`) where the statement has parts, else all the statement read; and the calls it made."""
        owners = [t for t in state.parts if key == t or key.startswith((t + "[", t + "."))]
        if owners:  # the innermost part: return[0][1] before return[0]
            return state.parts[max(owners, key=len)] + state.calls
        return state.reads + state.calls

    def _argument(self, state: _State, key: str, array: np.ndarray) -> int | None:
        """An argument the caller made on the fly (`sigmoid_prime(a @ w + b)`): a binding of the caller's line."""
        caller = state.parent
        if caller is None or caller.statement is None:
            return self._bind(state, key, array, state.code.co_firstlineno, [])
        name = f"argument {key} of {state.frame.function.rsplit('.', 1)[-1]}"
        return self._bind(caller, name, array, caller.statement[0], caller.reads + caller.calls)

    def _bind(self, state: _State, key: str, array: np.ndarray, line: int, reads: list[int],
              replaced: int | None = None) -> int | None:
        if len(self.trace.bindings) >= MAX_BINDINGS or self.bytes + array.nbytes > MAX_BYTES:
            self._stop(f"recording stopped at {len(self.trace.bindings)} arrays ({self.bytes >> 20} MB)")
            return None
        seq = len(self.trace.bindings)
        copy = np.array(array, dtype=np.float64, copy=True)
        passes = state.passes.get(line, 1) - 1
        self.trace.bindings.append(Binding(seq, state.frame.serial, line, max(passes, 0), key,
                                           list(dict.fromkeys(reads)), replaced))
        self.trace.arrays.append(copy)
        self.bytes += copy.nbytes
        self.by_id.setdefault(id(array), []).append(seq)
        return seq

    def _alias(self, array: np.ndarray) -> int | None:
        """The binding this very array (same object, same values) was recorded as, if any."""
        for seq in reversed(self.by_id.get(id(array), [])):
            kept = self.trace.arrays[seq]
            if kept.shape == array.shape and np.array_equal(kept, array, equal_nan=True):
                return seq
        return None

    def _locals(self, frame: Any, state: _State) -> Iterator[tuple[str, np.ndarray]]:
        """The arrays a call holds: its locals, the items of its lists and tuples, its object's attributes."""
        names = frame.f_locals
        code = frame.f_code
        owner = code.co_varnames[0] if code.co_argcount else None
        for name, value in list(names.items()):
            yield from _arrays(name, value, 0, self._wanted)
            if name == owner and not isinstance(value, (np.ndarray, list, tuple)):
                try:
                    attributes = dict(object.__getattribute__(value, "__dict__"))
                except Exception:  # noqa: BLE001 - no __dict__, or a hostile one: its attributes are not followed
                    continue
                for attribute, item in attributes.items():
                    yield from _arrays(f"{name}.{attribute}", item, 0, self._wanted)

    # what a line reads

    def _statement(self, filename: str, line: int) -> tuple[int, int, list, list]:
        if filename not in self._statements:
            self._statements[filename] = statements(linecache.getlines(filename))
        return self._statements[filename].get(line, (line, line, [], []))

    def _resolve(self, state: _State, names: dict[str, Any], reads: list) -> list[int]:
        out: list[int] = []
        for base, index in reads:
            key = base
            if index is not None:
                k = _evaluate(index, names)
                container = _lookup(base, names)
                if k is not None and isinstance(container, (list, tuple)) and -len(container) <= k < len(container):
                    key = f"{base}[{k % len(container)}]"
            found = [seq for name, seq in state.keys.items() if name == key or name.startswith((key + "[", key + "."))]
            owner = key.split(".")[0]
            if not found and owner != key and owner in state.keys:  # `delta.sum(0)`, `a.T`: the array itself
                found = [state.keys[owner]]
            out += found
        return out

    def _stop(self, why: str) -> None:
        self.full = True
        self.trace.note = self.trace.note or why

    def source_lines(self) -> None:
        """The text of every recorded line and of CONTEXT lines around it, per file."""
        wanted: dict[tuple[str, int | None], set[int]] = {}
        frames = self.trace.frames  # frames[serial]
        places = [(frames[b.frame], b.line) for b in self.trace.bindings]
        places += [(f, f.return_line) for f in frames if f.return_line]
        places += [(frames[f.parent], f.call_line) for f in frames if f.parent is not None and f.call_line]
        for f, line in places:
            wanted.setdefault((f.file, f.cell), set()).update(range(line - CONTEXT, line + CONTEXT + 1))
        for filename, where in self._mine.items():
            if where is None or where not in wanted:
                continue
            text = linecache.getlines(filename)
            self.trace.lines[file_key(*where)] = {n: text[n - 1].rstrip("\n")[:240] for n in sorted(wanted[where])
                                                  if 1 <= n <= len(text)}


def _same(known: tuple[int, np.ndarray] | None, array: np.ndarray) -> bool:
    """Is `array` the object recorded, with the values recorded?"""
    return (known is not None and known[0] == id(array) and known[1].shape == array.shape
            and np.array_equal(known[1], array, equal_nan=True))


def _int_or_none(value: Any) -> int | None:
    return None if value is None else int(value)


def file_key(file: str, cell: int | None) -> str:
    return f"{file}|{cell if cell is not None else ''}"


def _arrays(key: str, value: Any, depth: int, wanted: Callable[[np.ndarray], bool]) -> Iterator[tuple[str, np.ndarray]]:
    if type(value) is np.ndarray:  # a subclass may override anything: only plain arrays are read
        if wanted(value):
            yield key, value
    elif type(value) in (list, tuple) and depth < 2 and len(value) <= MAX_ITEMS:
        for i, item in enumerate(value):
            yield from _arrays(f"{key}[{i}]", item, depth + 1, wanted)


def _lookup(base: str, names: dict[str, Any]) -> Any:
    owner, _, attribute = base.partition(".")
    value = names.get(owner)
    if attribute:
        try:
            value = object.__getattribute__(value, "__dict__").get(attribute)
        except Exception:  # noqa: BLE001
            return None
    return value


def _evaluate(node: ast.expr, names: dict[str, Any]) -> int | None:
    """An index made of integer literals, integer locals, unary minus, +, - and *; None for anything else."""
    if isinstance(node, ast.Constant) and type(node.value) is int:
        return node.value
    if isinstance(node, ast.Name):
        value = names.get(node.id)
        return value if type(value) is int else None
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        inner = _evaluate(node.operand, names)
        return None if inner is None else -inner
    if isinstance(node, ast.BinOp) and isinstance(node.op, (ast.Add, ast.Sub, ast.Mult)):
        left, right = _evaluate(node.left, names), _evaluate(node.right, names)
        if left is None or right is None:
            return None
        return left + right if isinstance(node.op, ast.Add) else left - right if isinstance(node.op, ast.Sub) \
            else left * right
    return None


# --- a file's statements and what each reads (static) ------------------------------------------------------------

_HEADERS = {ast.For: lambda n: [n.iter], ast.AsyncFor: lambda n: [n.iter], ast.While: lambda n: [n.test],
            ast.If: lambda n: [n.test], ast.With: lambda n: [i.context_expr for i in n.items],
            ast.AsyncWith: lambda n: [i.context_expr for i in n.items]}


COMPREHENSIONS = {"<listcomp>", "<setcomp>", "<dictcomp>", "<genexpr>", "<lambda>"}


def statements(lines: list[str]) -> dict[int, tuple[int, int, list, list]]:
    """line -> (the statement's first line, its last line, what it reads: [(base, index expression or None)], and
    for a statement of several parts what each reads: [(target, reads)], a target being "return[i]", "return[i][j]"
    or an assignment's target expression). A comprehension's frame is read by its rounds instead (Tracer._round).
    IPython lines (`!pip ...`, `%time`) are blanked so a notebook cell parses; a file that still does not parse
    gives no statements (a line then reads nothing known, and blame says less)."""
    text = "".join(line if not line.lstrip().startswith(("!", "%")) else "\n" for line in lines)
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError):
        return {}
    out: dict[int, tuple[int, int, list, list]] = {}
    _walk(tree.body, out)
    return out


def _walk(body: list[ast.stmt], out: dict[int, tuple[int, int, list, list]]) -> None:
    for node in body:
        header = _HEADERS.get(type(node))
        if header is not None:
            end = node.body[0].lineno - 1 if node.body else node.end_lineno
            reads = [r for expr in header(node) for r in _reads(expr)]
            for n in range(node.lineno, max(end, node.lineno) + 1):
                out[n] = (node.lineno, max(end, node.lineno), reads, [])
            for part in ("body", "orelse"):
                _walk(getattr(node, part, []), out)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            _walk(node.body, out)
        elif isinstance(node, ast.Try):
            for part in (node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                _walk(part, out)
        else:
            reads, parts = _statement_reads(node), _parts(node)
            for n in range(node.lineno, (node.end_lineno or node.lineno) + 1):
                out[n] = (node.lineno, node.end_lineno or node.lineno, reads, parts)


def _statement_reads(node: ast.stmt) -> list:
    if isinstance(node, ast.Assign):
        return [r for t in node.targets for r in _target_reads(t)] + _reads(node.value)
    if isinstance(node, ast.AugAssign):
        return _reads(node.target) + _reads(node.value)  # x += v reads x
    if isinstance(node, ast.AnnAssign):
        return _target_reads(node.target) + (_reads(node.value) if node.value else [])
    return [r for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr) for r in _reads(child)]


def _parts(node: ast.stmt) -> list:
    """[(target, reads)] for `return (A, B)` (depth 2: `return [..], [..]`) and `a, b = A, B`."""
    if isinstance(node, ast.Return) and isinstance(node.value, (ast.Tuple, ast.List)):
        out = []
        for i, element in enumerate(node.value.elts):
            out.append((f"return[{i}]", _reads(element)))
            if isinstance(element, (ast.Tuple, ast.List)):
                out += [(f"return[{i}][{j}]", _reads(inner)) for j, inner in enumerate(element.elts)]
        return out
    if (isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Tuple)
            and isinstance(node.value, ast.Tuple) and len(node.targets[0].elts) == len(node.value.elts)):
        return [(target, _reads(value)) for target, value in zip(node.targets[0].elts, node.value.elts)]
    return []


def _target_key(target: Any, names: dict[str, Any]) -> str | None:
    """The name a part's target binds: "return[i]" as it is, `x` -> "x", `nabla_w[-l]` -> "nabla_w[1]",
    `self.zs` -> "self.zs"; None where the index cannot be evaluated."""
    if isinstance(target, str):
        return target
    if isinstance(target, ast.Name):
        return target.id
    base = _base(target) if isinstance(target, ast.Attribute) else None
    if base is not None:
        return base
    if isinstance(target, ast.Subscript):
        base, k = _base(target.value), _evaluate(target.slice, names)
        container = _lookup(base, names) if base else None
        if base and k is not None and isinstance(container, (list, tuple)) and -len(container) <= k < len(container):
            return f"{base}[{k % len(container)}]"
    return None


def _target_reads(target: ast.expr) -> list:
    """What an assignment target reads: its indices (`nabla_w[-l]` reads l), not the container it stores into."""
    if isinstance(target, (ast.Tuple, ast.List)):
        return [r for t in target.elts for r in _target_reads(t)]
    if isinstance(target, ast.Subscript):
        return _reads(target.slice) + _target_reads(target.value)
    if isinstance(target, ast.Starred):
        return _target_reads(target.value)
    return []


def _reads(node: ast.expr) -> list:
    """(base, index) for every name, attribute of a name and indexed item an expression loads. Comprehensions and
    lambdas run in their own frames (Python 3.11): only a comprehension's first iterable is read here."""
    if isinstance(node, ast.Name):
        return [(node.id, None)]
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return [(f"{node.value.id}.{node.attr}", None)]
    if isinstance(node, ast.Subscript):
        base = _base(node.value)
        if base is not None:
            return [(base, node.slice)] + _reads(node.slice)
    if isinstance(node, (ast.ListComp, ast.SetComp, ast.GeneratorExp, ast.DictComp)):
        return _reads(node.generators[0].iter)
    if isinstance(node, ast.Lambda):
        return []
    return [r for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr) for r in _reads(child)]


def _base(node: ast.expr) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        return f"{node.value.id}.{node.attr}"
    return None


# --- the one entry point --------------------------------------------------------------------------------------


def student_files(obj: Any) -> frozenset[str]:
    """The files an object's class and its module's functions were defined in (a class from a Jupyter cell)."""
    functions = [v for cls in type(obj).__mro__ if cls is not object for v in vars(cls).values()]
    module = sys.modules.get(type(obj).__module__)
    functions += list(vars(module).values()) if module is not None else []
    return frozenset(f.__code__.co_filename for f in functions if hasattr(f, "__code__")
                     and isinstance(getattr(f.__code__, "co_filename", None), str))


def trace_call(method: Callable, args: tuple, folder: Path | None, shapes: set[tuple[int, ...]],
               files: frozenset[str] = frozenset()) -> Trace:
    """method(*args) under the tracer; the trace (its note says why it is partial or empty)."""
    tracer = Tracer(folder, shapes, files)
    previous = sys.gettrace()
    sys.settrace(tracer.on_call)
    replaced = False
    try:
        method(*args)
    except BaseException as error:  # noqa: BLE001 - the call failed before, in the check; the trace says where
        tracer.trace.note = tracer.trace.note or f"the call raised {type(error).__name__} while traced"
    finally:
        replaced = sys.gettrace() != tracer.on_call
        sys.settrace(previous)
    if replaced:
        return Trace(note="not traced: the submission installs its own tracer (sys.settrace), which replaces the "
                          "harness's")
    tracer.source_lines()
    return tracer.trace
