"""Import the student's file and call into its code: anything that code raises (SystemExit included) becomes a
StudentError naming what was called, with the student's own file:line.

NumPy only: the sandboxed worker loads with it.
"""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path
from typing import Any, Callable, TypeVar

import numpy as np

from crosscheck.spec import Spec
from crosscheck.student.hparams import LAB_HPARAMS
from crosscheck.student import notebook_source
from crosscheck.student.text import StudentError, describe
from crosscheck.student.validate import check_array

T = TypeVar("T")

IN_WORKER = False  # set by the sandboxed worker: there even KeyboardInterrupt from the student's code is a verdict


def verdict(error: BaseException, what: str, origin: Path | None) -> StudentError:
    """The StudentError for an exception from the student's code (SystemExit, MemoryError, ... all are verdicts);
    a Ctrl-C in the harness's own process is the user's, so it is raised again."""
    if isinstance(error, KeyboardInterrupt) and not IN_WORKER:
        raise error
    return StudentError(describe(error, what, origin))


def call_student(what: str, origin: Path | None, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> T:
    """fn(*args, **kwargs), fn being the student's code: whatever it raises comes out as verdict() says."""
    try:
        return fn(*args, **kwargs)
    except BaseException as error:  # noqa: BLE001 - see verdict()
        raise verdict(error, what, origin) from None


def import_student(path: Path, attribute: str) -> tuple[Any, Path]:
    """The named attribute of the student's file (a .py, or a notebook: see notebook_source), imported with its
    folder on sys.path (siblings import)."""
    path = Path(path).resolve()
    folder = path.parent
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))
    name = path.stem if path.stem.isidentifier() and path.stem not in sys.modules else "__student__"
    notebook = None
    if path.suffix != ".ipynb":
        module_spec = importlib.util.spec_from_file_location(name, path)
        if module_spec is None or module_spec.loader is None:
            raise StudentError(f"cannot import {path.name} as Python source")
        module = importlib.util.module_from_spec(module_spec)
        sys.modules[name] = module
    try:
        if path.suffix == ".ipynb":
            module, notebook = notebook_source.load_notebook(path, name)
        else:
            module_spec.loader.exec_module(module)
    except SyntaxError as error:
        line = f": {error.text.strip()[:120]}" if error.text else ""
        where = Path(error.filename).name if error.filename else path.name
        raise StudentError(f"{where} has a syntax error at line {error.lineno}: {error.msg}{line}") from None
    except BaseException as error:  # noqa: BLE001 - everything the student's module does is a verdict
        raise verdict(error, f"importing {path.name}", folder) from None
    unavailable = notebook.unavailable(attribute) if notebook else None  # an older definition must not stand in
    if unavailable:
        raise StudentError(unavailable)
    if not hasattr(module, attribute):
        found = sorted(n for n, v in vars(module).items() if inspect.isclass(v) and v.__module__ == name)
        raise StudentError(f"{path.name} has no {attribute!r}" + (f"; it defines: {', '.join(found)}" if found else ""))
    return getattr(module, attribute), folder


def construct(cls: Any, spec: Spec, required: dict[str, float], optional: dict[str, float],
              origin: Path | None = None) -> tuple[Any, str]:
    """(cls(list(spec.layers), **hparams), that call as text), with a precise verdict when the signature does not fit."""
    if not inspect.isclass(cls):
        raise StudentError(f"{getattr(cls, '__name__', cls)!r} is a {type(cls).__name__}, expected a class")
    layers, kwargs = list(spec.layers), dict(required)
    try:
        signature = inspect.signature(cls)
    except (TypeError, ValueError):
        signature = None
    if signature is not None:
        named = {k for k, p in signature.parameters.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
        kwargs.update({k: v for k, v in optional.items() if k in named})  # a **kwargs alone may not want them
    call = f"{cls.__name__}({layers}" + "".join(f", {k}={v:g}" for k, v in kwargs.items()) + ")"
    if signature is not None:
        try:
            signature.bind(layers, **kwargs)
        except TypeError as error:
            names = ", ".join(LAB_HPARAMS.get(spec.name, {})) or "none"
            raise StudentError(f"the harness constructs {call}, but the constructor is {cls.__name__}{signature}: "
                               f"{error} (model {spec.name} takes the lab's names: {names}; values can be set "
                               f"with --hparam NAME=VALUE, or check(..., NAME=VALUE) in a notebook)") from None
    return call_student(call, origin, cls, layers, **kwargs), call


def call_function(fn: Any, z: np.ndarray, name: str, origin: Path | None = None) -> np.ndarray:
    """A student's function on z (task 0's softmax): same shape back, float; non-finite values are a finding."""
    if not callable(fn):
        raise StudentError(f"{name!r} is a {type(fn).__name__}, expected a function")
    out = call_student(name, origin, fn, np.array(z, copy=True))
    if isinstance(out, np.ndarray) and out.dtype.kind == "f" and out.dtype != np.float64:
        out = out.astype(np.float64)
    return check_array(out, z.shape, f"{name}(z)", finite=False)


def origin_of(obj: Any) -> Path | None:
    """The folder of the file that defines obj (its frames are the student's in a verdict), if it has one."""
    try:
        return Path(inspect.getfile(obj)).resolve().parent
    except (TypeError, OSError):
        return None
