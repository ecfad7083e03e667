"""What the student's code hands back, checked before the harness compares it: type, length, shape, float64, finite.

NumPy only: the sandboxed worker checks with it, and the harness checks again what the worker sends.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crosscheck.student.text import StudentError


def check_array(value: Any, shape: tuple[int, ...], what: str, layer: int | None = None,
                param: str | None = None, finite: bool = True) -> np.ndarray:
    """A float64 ndarray of exactly `shape`, all finite (unless finite=False), copied; else a StudentError."""
    if not isinstance(value, np.ndarray):
        raise StudentError(f"{what} is a {type(value).__name__}, expected a numpy array of shape {shape}",
                           layer, param)
    if value.dtype != np.float64:
        why = ("; compute in float64: the checks compare to ~1e-10" if value.dtype.kind == "f"
               else ", expected float64")
        raise StudentError(f"{what} has dtype {value.dtype}{why}", layer, param)
    if value.shape != tuple(shape):
        raise StudentError(f"{what} has shape {value.shape}, expected {tuple(shape)}", layer, param)
    if finite:
        bad = ~np.isfinite(value)
        if bad.any():
            index = [int(k) for k in np.unravel_index(int(np.argmax(bad)), value.shape)]
            raise StudentError(f"{what} has {int(bad.sum())} non-finite entries (e.g. {value[tuple(index)]} at "
                               f"{index})", layer, param)
    return np.array(value, dtype=np.float64, copy=True)


def check_list(value: Any, n: int, what: str) -> list:
    """The n items of a list or tuple (one per layer); else a StudentError."""
    if isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise StudentError(f"{what} is a {type(value).__name__}, expected a list of {n} arrays (one per layer)")
    if len(items) != n:
        raise StudentError(f"{what} has {len(items)} entries, expected {n} (one per layer)")
    return items
