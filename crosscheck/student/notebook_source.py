"""A lab notebook as a submission: the module its code cells define, without the work they do.

Students hand in the notebook they wrote the lab in. Beside the definitions it holds work that must not run when
grading: `!pip install` and `%magic` lines, a `load_mnist()` call that downloads MNIST, `evaluate_model(...)`
sweeps that train for minutes, plots. The module is built from the code cells in order, keeping only what
defines things:

- imports; function and class definitions, with their decorators (their bodies run only when called);
- assignments (`=`, annotated, augmented) whose evaluation calls nothing: literals, names, attributes,
  subscripts and slices, operators, comparisons, conditional expressions, containers, f-strings,
  comprehensions whose parts call nothing, and lambdas (their bodies run only when called; their defaults must
  call nothing). Operators and attributes can still run dunder methods and properties, but only of values that
  other kept statements made, so nothing expensive or external is reached;
- `if` and `try` blocks whose conditions and exception types call nothing and whose every statement is kept
  (`try: import cupy as cp / except ImportError: import numpy as cp`); `if __name__ == "__main__":` is not;
- bare strings (used as comments; they do nothing).
Everything else is skipped: top-level calls (`net.SGD(...)`, `np.random.seed(0)`), assignments that call
(`data = load_mnist()`), loops, `with` blocks, asserts, `del`, expressions shown as a cell's value, IPython
lines (`!cmd`, `%magic`, `name?`, `x = !cmd`) and cells under a cell magic other than %%time, %%timeit and
%%capture (whose bodies are Python and are read as any cell).

"cell N" is the Nth code cell, counted from 1 (markdown cells are not counted): execution counts change with
every run and Colab shows none. A cell that does not compile (a syntax error) is reported and skipped, as
Jupyter's "Run all" would fail it, rather than failing the whole submission: a broken scratch cell must not
hide a correct class, and when the class itself was in that cell the load says so, with the line.

Loading (`load_notebook`, in the sandboxed worker: the notebook is the student's code) runs the kept
statements in order, each compiled with the file name "lab.ipynb, cell N" and the cell's own line numbers, so a
traceback reads `lab.ipynb, cell 4, line 12`; a class redefined in a later cell is replaced, as in the notebook.
A kept statement that fails for a name a skipped statement defines (or one defined only further down), and an
import that fails (`from google.colab import drive` outside Colab), are skipped in turn and reported. The
grader's messages then explain a NameError for such a name (`explain_name_error`), and a class whose last
definition did not run is a clear failure (`NotebookSource.unavailable`), never a stale earlier definition.

Imports the standard library only (nbformat when reading): the worker never imports torch or pandas.
"""

from __future__ import annotations

import __future__
import ast
import io
import linecache
import re
import sys
import tokenize
import types
import warnings
from dataclasses import dataclass, field
from pathlib import Path

NOTEBOOK_KEY = "__crosscheck_notebook__"  # the loaded module's global holding its NotebookSource
PYTHON_CELL_MAGICS = {"time", "timeit", "capture"}  # their cell bodies are Python, run by IPython
MAX_ITEMS = 4  # skipped statements named per cell in the report; the rest are counted
EXCERPT = 60  # characters of a statement shown in the report

CALL_ADVICE = ("that cell's top-level calls are not run when grading (move it inside a function, or define it as a "
               "constant)")
BLOCK_ADVICE = ("top-level loops and blocks are not run when grading (move it inside a function, or define it as a "
                "constant)")
IPYTHON_ADVICE = "shell commands and IPython magics are not run when grading"
_SKIPPED_KINDS = {ast.For: "a loop", ast.AsyncFor: "a loop", ast.While: "a loop", ast.With: "a with block",
                  ast.AsyncWith: "a with block", ast.Assert: "an assert", ast.Delete: "a del statement",
                  ast.Raise: "a raise statement", ast.Match: "a match statement", ast.Global: "a global statement",
                  ast.Nonlocal: "a nonlocal statement"}
_DEFINITIONS = (ast.Import, ast.ImportFrom, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef,
                ast.Pass)  # pass: a block's placeholder
_ESCAPED_ASSIGNMENT = re.compile(r"^\s*([A-Za-z_][\w\s,]*?)\s*=\s*[!%]")  # x = !ls, t = %timeit -o f()
_TOP_LEVEL_NAME = re.compile(r"^(?:(?:async\s+)?def|class)\s+([A-Za-z_]\w*)|^([A-Za-z_]\w*)\s*(?::[^=\n]*)?=(?!=)",
                             re.M)
_CELL_FILE = re.compile(r"^(?P<path>.*\.ipynb), cell (?P<cell>\d+)$")


@dataclass(frozen=True)
class Skip:
    """A statement (or a whole cell) that is not run when grading, and what a name it defines then lacks."""

    cell: int
    line: int  # within the cell
    excerpt: str  # the statement's first line, shortened
    why: str  # for the report: "calls load_mnist", "a loop", ...
    advice: str  # for a class that needs a name it defines: why it is missing and what to do
    names: tuple[str, ...] = ()
    whole_cell: bool = False  # a syntax error or a cell magic: nothing of the cell runs

    @property
    def item(self) -> str:
        return self.why if self.whole_cell else f"`{self.excerpt}` ({self.why})"


@dataclass(frozen=True)
class Statement:
    """A kept top-level statement, with the cell it came from (its nodes carry the cell's line numbers)."""

    cell: int
    node: ast.stmt
    text: str  # its lines as parsed, decorators included


@dataclass
class NotebookSource:
    """What a notebook contributes when graded: the kept statements, the module they make, and what was skipped."""

    path: Path
    statements: list[Statement]
    source: str  # the module built from the kept statements, "# cell N" above each cell's part
    line_map: dict[int, tuple[int, int]]  # line of `source` -> (cell, line within the cell)
    cells: dict[int, str]  # cell number -> its text as written (for tracebacks)
    skips: list[Skip] = field(default_factory=list)  # grows while loading (failed imports, missing names)
    binders: dict[str, list[tuple[int, int]]] = field(default_factory=dict)  # name -> (cell, line) of its bindings

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def skipped(self) -> list[str]:
        """One line per cell with skipped statements, in cell order."""
        by_cell: dict[int, list[Skip]] = {}
        for skip in sorted(self.skips, key=lambda s: (s.cell, s.line)):
            by_cell.setdefault(skip.cell, []).append(skip)
        return [_cell_line(cell, skips) for cell, skips in by_cell.items()]

    @property
    def skipped_names(self) -> dict[str, Skip]:
        """Every name a skipped statement would have bound -> the first such statement."""
        out: dict[str, Skip] = {}
        for skip in self.skips:
            for name in skip.names:
                out.setdefault(name, skip)
        return out

    def explain(self, name: str, who: str) -> str:
        skip = self.skipped_names[name]
        how = "" if skip.whole_cell else f" with `{skip.excerpt}`"
        return f"{who} needs `{name}`, which cell {skip.cell} defines{how}; {skip.advice}"

    def unavailable(self, name: str) -> str | None:
        """Why `name` is not the notebook's last definition of it, when that definition did not run; else None."""
        final = max(self.binders.get(name, [(0, 0)]))
        skip = next((s for s in self.skips if name in s.names and (s.cell, s.line) == final), None)
        if skip is None:
            return None
        if skip.whole_cell:
            return f"{self.name}: the last definition of `{name}` is in cell {skip.cell}, and {skip.advice}"
        return (f"{self.name}: the last definition of `{name}` (cell {skip.cell}, line {skip.line}: `{skip.excerpt}`) "
                f"was not run when grading: {skip.advice}")

    def record(self, skip: Skip) -> None:
        self.skips.append(skip)
        self.bind(skip.names, skip.cell, skip.line)

    def bind(self, names: tuple[str, ...], cell: int, line: int) -> None:
        for name in names:
            self.binders.setdefault(name, []).append((cell, line))

    def defined_later(self, name: str, cell: int, line: int) -> int | None:
        """The first cell further down that binds `name` (a class used above its definition), or None."""
        return next((c for c, l in self.binders.get(name, []) if (c, l) > (cell, line)), None)


# --- reading ---------------------------------------------------------------------------------------------------


def read_code_cells(path: Path) -> list[str]:
    """The code cells' sources, in order; a file that is not a valid notebook is one ValueError line."""
    import nbformat  # noqa: PLC0415 - only for notebooks; nbformat.read would log a validation error, so step by step

    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ValueError(f"cannot read {path.name}: {error.strerror or error}") from None
    except UnicodeDecodeError as error:
        raise ValueError(f"{path.name} is not a valid Jupyter notebook: not UTF-8 text ({error.reason})") from None
    try:
        with warnings.catch_warnings():  # e.g. MissingIDFieldWarning: nbformat repairs what it warns about
            warnings.simplefilter("ignore")
            notebook = nbformat.convert(nbformat.reader.reads(text), 4)
            nbformat.validate(notebook)
            return [cell.source for cell in notebook.cells if cell.cell_type == "code"]
    except Exception as error:  # noqa: BLE001 - nbformat raises ValueError, jsonschema errors, KeyError, ...
        reason = (str(error).strip().splitlines() or [type(error).__name__])[0][:200]
        raise ValueError(f"{path.name} is not a valid Jupyter notebook: {reason}") from None


def build(path: Path) -> NotebookSource:
    """The notebook's kept statements and its skipped ones (nothing of the student's code runs here)."""
    path = Path(path)
    notebook = NotebookSource(path, [], "", {}, {})
    for cell, text in enumerate(read_code_cells(path), start=1):
        notebook.cells[cell] = text
        notebook.statements.extend(_read_cell(notebook, cell, text))
    notebook.source, notebook.line_map = _module_source(notebook)
    return notebook


def _read_cell(notebook: NotebookSource, cell: int, text: str) -> list[Statement]:
    lines = text.splitlines()
    top = next((i for i, line in enumerate(lines) if line.strip()), None)
    if top is not None and lines[top].startswith("%%"):
        magic = (lines[top][2:].split() or [""])[0]
        if magic not in PYTHON_CELL_MAGICS:
            notebook.record(_whole_cell(cell, text, f"not run: a %%{magic} cell magic",
                                        f"that cell is a %%{magic} cell magic, which is not run when grading"))
            return []
        notebook.record(Skip(cell, top + 1, _shorten(lines[top].strip()), "an IPython magic", IPYTHON_ADVICE))
        text = "\n".join(lines[:top] + [""] + lines[top + 1:])
    text = _without_ipython(notebook, cell, text)
    try:
        tree = ast.parse(text)
        compile(tree, cell_filename(notebook.path, cell), "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT,
                dont_inherit=True)  # what the compiler refuses (`return` outside a function), Jupyter fails too
    except (SyntaxError, ValueError) as error:  # ValueError: a null byte
        line = getattr(error, "lineno", None) or 1
        message = getattr(error, "msg", None) or str(error)
        code = (getattr(error, "text", None) or "").strip()
        where = f"a syntax error at line {line}: {message}" + (f" (`{_shorten(code)}`)" if code else "")
        notebook.record(_whole_cell(cell, text, f"not run: {where}", f"that cell has {where}, so none of it runs"))
        return []
    kept = []
    lines = text.splitlines()
    for node in tree.body:
        if isinstance(node, ast.Pass) or (isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)):
            continue  # does nothing: neither run nor reported (an IPython line left a `pass`)
        why = skip_reason(node)
        if why is None:
            kept.append(Statement(cell, node, "\n".join(lines[_first_line(node) - 1: node.end_lineno])))
            notebook.bind(bound_names(node), cell, node.lineno)
        else:
            simple = isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign, ast.Expr))
            notebook.record(Skip(cell, node.lineno, _excerpt(text, node), why,
                                 CALL_ADVICE if simple else BLOCK_ADVICE, bound_names(node)))
    return kept


def _whole_cell(cell: int, text: str, why: str, advice: str) -> Skip:
    """A cell none of which runs; the names it seems to define at its top level are found by pattern."""
    names = tuple(dict.fromkeys(a or b for a, b in _TOP_LEVEL_NAME.findall(text)))
    return Skip(cell, 1, _shorten(next((line for line in text.splitlines() if line.strip()), "")), why, advice,
                names, whole_cell=True)


def _without_ipython(notebook: NotebookSource, cell: int, text: str) -> str:
    """The cell with each IPython line (`!cmd`, `%magic`, `name?`, `x = !cmd`) replaced by `pass` (the same
    indentation, so a block around it stays valid) and its continuation lines emptied; each is recorded."""
    lines = text.splitlines()
    for first, last, kind in _ipython_lines(text):
        line = lines[first - 1]
        match = _ESCAPED_ASSIGNMENT.match(line)
        names = tuple(n.strip() for n in match.group(1).split(",")) if match else ()
        notebook.record(Skip(cell, first, _shorten(line.strip()), kind, IPYTHON_ADVICE, names))
        lines[first - 1] = line[: len(line) - len(line.lstrip())] + "pass"
        for k in range(first, last):
            lines[k] = ""
    return "\n".join(lines)


def _ipython_lines(text: str) -> list[tuple[int, int, str]]:
    """(first line, last line, kind) of every logical line IPython would read as a shell command, a magic or help.
    Found with the tokenizer, so a `%` or `!` inside brackets or a string is left alone."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):  # an unclosed string or bracket: plain Python errors later
        return []
    lines = text.splitlines()
    starts: list[tuple[int, list[tokenize.TokenInfo]]] = []  # each logical line: its first row, its tokens
    at_start = True
    for token in tokens:  # NEWLINE ends a logical line; inside brackets the tokenizer gives NL instead
        if token.type == tokenize.NEWLINE:
            at_start = True
        elif token.type not in (tokenize.NL, tokenize.COMMENT, tokenize.INDENT, tokenize.DEDENT, tokenize.ENDMARKER):
            if at_start:
                starts.append((token.start[0], []))
                at_start = False
            starts[-1][1].append(token)
    found = []
    for i, (row, logical) in enumerate(starts):
        kind = _ipython_kind(lines[row - 1], logical)
        if kind:
            end = starts[i + 1][0] - 1 if i + 1 < len(starts) else len(lines)
            found.append((row, end, kind))
    return found


def _ipython_kind(line: str, logical: list[tokenize.TokenInfo]) -> str | None:
    head = logical[0]
    if head.type == tokenize.ERRORTOKEN and head.string == "!":
        return "a shell command"
    if head.type == tokenize.OP and head.string == "%":
        return "an IPython magic"
    if any(t.type == tokenize.ERRORTOKEN and t.string == "?" for t in logical):
        return "IPython help"
    match = _ESCAPED_ASSIGNMENT.match(line)
    if match:
        return "a shell command" if line[match.end() - 1] == "!" else "an IPython magic"
    return None


# --- the classifier --------------------------------------------------------------------------------------------


def skip_reason(node: ast.stmt) -> str | None:
    """None when a top-level statement is kept (it only defines something); else why it is skipped."""
    if isinstance(node, _DEFINITIONS):
        return None
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        call = first_call(node)
        return None if call is None else _calls(call)
    if isinstance(node, ast.Expr):
        if isinstance(node.value, ast.Constant):
            return None
        return "a top-level call" if isinstance(node.value, ast.Call) else "an expression"
    if isinstance(node, ast.If):
        if _is_main_guard(node.test):
            return 'an `if __name__ == "__main__":` block'
        return _block_reason("an if block", [node.test], node.body + node.orelse)
    if isinstance(node, (ast.Try, ast.TryStar)):
        handlers = [h.type for h in node.handlers if h.type is not None]
        body = node.body + [s for h in node.handlers for s in h.body] + node.orelse + node.finalbody
        return _block_reason("a try block", handlers, body)
    return _SKIPPED_KINDS.get(type(node), f"a {type(node).__name__.lower()} statement")


def _block_reason(what: str, parts: list[ast.expr], body: list[ast.stmt]) -> str | None:
    call = next((c for c in map(first_call, parts) if c is not None), None)
    if call is not None:
        return f"{what} whose condition {_calls(call)}"
    inner = next(((s, why) for s in body if (why := skip_reason(s)) is not None), None)
    return None if inner is None else f"{what} that does more than define (line {inner[0].lineno}: {inner[1]})"


def first_call(node: ast.AST) -> ast.AST | None:
    """The first call (or await, yield) that evaluating `node` makes, else None. A lambda's body does not run
    when the lambda is made: only its defaults are evaluated."""
    if isinstance(node, (ast.Call, ast.Await, ast.Yield, ast.YieldFrom)):
        return node
    children = (node.args.defaults + [d for d in node.args.kw_defaults if d is not None]
                if isinstance(node, ast.Lambda) else ast.iter_child_nodes(node))
    return next((c for c in map(first_call, children) if c is not None), None)


def _calls(node: ast.AST) -> str:
    if isinstance(node, ast.Call):
        return f"calls {_shorten(ast.unparse(node.func), 40)}"
    return "awaits" if isinstance(node, ast.Await) else "yields"


def _is_main_guard(test: ast.expr) -> bool:
    return (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)
            and {ast.unparse(test.left), ast.unparse(test.comparators[0])} == {"__name__", "'__main__'"})


class _Bindings(ast.NodeVisitor):
    """The names a top-level statement binds in the module (not inside the functions, classes, lambdas and
    comprehensions it defines, which have their own scopes)."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def visit_Name(self, node: ast.Name) -> None:
        if isinstance(node.ctx, ast.Store):
            self.names.append(node.id)

    def _definition(self, node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> None:
        self.names.append(node.name)

    visit_FunctionDef = visit_AsyncFunctionDef = visit_ClassDef = _definition

    def _scope(self, node: ast.AST) -> None:
        pass

    visit_Lambda = visit_ListComp = visit_SetComp = visit_DictComp = visit_GeneratorExp = _scope

    def visit_Import(self, node: ast.Import) -> None:
        self.names += [a.asname or a.name.split(".")[0] for a in node.names]

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        self.names += [a.asname or a.name for a in node.names if a.name != "*"]

    def visit_ExceptHandler(self, node: ast.ExceptHandler) -> None:
        if node.name:
            self.names.append(node.name)
        self.generic_visit(node)

    def _capture(self, node: ast.MatchAs | ast.MatchStar) -> None:
        if node.name:
            self.names.append(node.name)
        self.generic_visit(node)

    visit_MatchAs = visit_MatchStar = _capture

    def visit_MatchMapping(self, node: ast.MatchMapping) -> None:
        if node.rest:
            self.names.append(node.rest)
        self.generic_visit(node)


def bound_names(node: ast.stmt) -> tuple[str, ...]:
    visitor = _Bindings()
    visitor.visit(node)
    return tuple(dict.fromkeys(visitor.names))


# --- the report and the module's text -------------------------------------------------------------------------


def _shorten(text: str, limit: int = EXCERPT) -> str:
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _excerpt(text: str, node: ast.stmt) -> str:
    line = text.splitlines()[node.lineno - 1].strip()
    return _shorten(line + (" ..." if node.end_lineno and node.end_lineno > node.lineno else ""))


def _cell_line(cell: int, skips: list[Skip]) -> str:
    whole = next((s for s in skips if s.whole_cell), None)
    if whole is not None:
        return f"cell {cell}: {whole.why}"
    items = ", ".join(s.item for s in skips[:MAX_ITEMS])
    more = f", and {len(skips) - MAX_ITEMS} more" if len(skips) > MAX_ITEMS else ""
    return f"cell {cell}: skipped {len(skips)} statement{'s' if len(skips) > 1 else ''}: {items}{more}"


def _first_line(node: ast.stmt) -> int:
    decorators = getattr(node, "decorator_list", [])
    return min([node.lineno] + [d.lineno for d in decorators])


def _module_source(notebook: NotebookSource) -> tuple[str, dict[int, tuple[int, int]]]:
    """The kept statements as one module's text, and where each of its lines comes from."""
    lines: list[str] = []
    line_map: dict[int, tuple[int, int]] = {}
    cell = None
    for statement in notebook.statements:
        if statement.cell != cell:
            cell = statement.cell
            lines.append(f"# cell {cell}")
        for k, line in enumerate(statement.text.split("\n"), start=_first_line(statement.node)):
            lines.append(line)
            line_map[len(lines)] = (cell, k)
    return "\n".join(lines) + "\n", line_map


# --- loading (in the sandboxed worker) ------------------------------------------------------------------------


def load_notebook(path: Path, module_name: str) -> tuple[types.ModuleType, NotebookSource]:
    """A fresh module (registered as sys.modules[module_name]) with the notebook's kept statements run in it.
    The student's errors propagate, as importing a .py file's would, except those the docstring says are
    skipped (a failing import, a name that a skipped statement or a later cell defines)."""
    path = Path(path)
    notebook = build(path)
    module = types.ModuleType(module_name)
    module.__file__ = str(path)
    vars(module)[NOTEBOOK_KEY] = notebook
    sys.modules[module_name] = module
    for cell, text in notebook.cells.items():  # tracebacks quote the student's lines (mtime None: never stale)
        name = cell_filename(path, cell)
        linecache.cache[name] = (len(text), None, text.splitlines(True), name)
    flags = 0
    for statement in notebook.statements:
        _run(notebook, vars(module), statement, flags)
        if isinstance(statement.node, ast.ImportFrom) and statement.node.module == "__future__":
            for alias in statement.node.names:  # as IPython does: a __future__ import holds for the later cells
                flags |= getattr(__future__, alias.name).compiler_flag
    return module, notebook


def _run(notebook: NotebookSource, namespace: dict, statement: Statement, flags: int) -> None:
    """One kept statement, compiled on its own with its cell's file name and line numbers. A failed import, or a
    name that only a skipped statement or a later cell defines, makes it a skipped statement in turn."""
    code = compile(ast.Module(body=[statement.node], type_ignores=[]),
                   cell_filename(notebook.path, statement.cell), "exec", flags=flags, dont_inherit=True)
    try:
        exec(code, namespace)  # noqa: S102 - the student's code, in the sandboxed worker
    except ImportError as error:
        if not isinstance(statement.node, (ast.Import, ast.ImportFrom)):
            raise
        failure = _error_line(error)
        _skip(notebook, statement, f"import failed: {failure}", f"that import failed when grading ({failure})")
    except NameError as error:
        cause = _missing_cause(notebook, statement, error)
        if cause is None:
            raise
        _skip(notebook, statement, *cause)


def _missing_cause(notebook: NotebookSource, statement: Statement, error: NameError) -> tuple[str, str] | None:
    """(why, advice) when a kept statement failed for a name a skipped statement defines or a later cell does."""
    name = getattr(error, "name", None)
    if isinstance(error, UnboundLocalError) or not name:
        return None
    if name in notebook.skipped_names:
        return f"needs `{name}`, from cell {notebook.skipped_names[name].cell}", notebook.explain(name, "it")
    later = notebook.defined_later(name, statement.cell, statement.node.lineno)
    if later is None:
        return None
    return (f"needs `{name}`, defined only in cell {later}",
            f"it needs `{name}`, which only cell {later}, further down, defines: grading runs the code cells from "
            f"top to bottom")


def _skip(notebook: NotebookSource, statement: Statement, why: str, advice: str) -> None:
    text = notebook.cells[statement.cell]
    notebook.record(Skip(statement.cell, statement.node.lineno, _excerpt(text, statement.node), why, advice,
                         bound_names(statement.node)))


def _error_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0][:150]}" if text else type(error).__name__


def cell_filename(path: Path, cell: int) -> str:
    """The file name a cell's code is compiled with: tracebacks then name the notebook and the cell."""
    return f"{path}, cell {cell}"


def cell_of(filename: str) -> tuple[str, int] | None:
    """(the notebook's path, the cell) for a file name cell_filename made; None for any other file."""
    match = _CELL_FILE.match(filename)
    return (match["path"], int(match["cell"])) if match else None


def frame_place(filename: str, lineno: int | None) -> str:
    """`lab.ipynb, cell 4, line 12` for a notebook cell's frame, `file.py:12` for any other file."""
    match = _CELL_FILE.match(filename)
    if match:
        return f"{Path(match['path']).name}, cell {match['cell']}, line {lineno}"
    return f"{Path(filename).name}:{lineno}"


def explain_name_error(error: BaseException) -> str | None:
    """For a NameError raised in a loaded notebook's code for a name a skipped statement defines: which cell
    defines it, and why that did not run. None for any other error."""
    if not isinstance(error, NameError) or isinstance(error, UnboundLocalError) or error.__traceback__ is None:
        return None
    tb = error.__traceback__
    while tb.tb_next is not None:
        tb = tb.tb_next
    notebook = tb.tb_frame.f_globals.get(NOTEBOOK_KEY)
    name = getattr(error, "name", None)
    if not isinstance(notebook, NotebookSource) or name not in notebook.skipped_names:
        return None
    return notebook.explain(name, tb.tb_frame.f_code.co_qualname)


def skipped_report(obj: object) -> list[str]:
    """The skipped-cell lines of the notebook that `obj` (a class or function) was loaded from; [] otherwise."""
    module = sys.modules.get(getattr(obj, "__module__", None) or "")
    notebook = vars(module).get(NOTEBOOK_KEY) if module is not None else None
    return notebook.skipped if isinstance(notebook, NotebookSource) else []


def main(argv: list[str] | None = None) -> int:
    """`python -m crosscheck.student.notebook_source lab.ipynb`: the module a notebook is graded as (nothing runs)."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m crosscheck.student.notebook_source NOTEBOOK.ipynb", file=sys.stderr)
        return 2
    try:
        notebook = build(Path(args[0]))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    print("".join(f"# {line}\n" for line in notebook.skipped) + notebook.source, end="")
    return 0


if __name__ == "__main__":
    sys.exit(main())
