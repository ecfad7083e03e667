"""Compare two lists of arrays with torch.testing.assert_close and say exactly where and how they differ."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np
import torch

from crosscheck import layout
from crosscheck.layout import Label
from crosscheck.results import CheckResult


@dataclass(frozen=True)
class Tolerance:
    """|got - want| <= atol + rtol*|want| elementwise, with atol = rtol * floor_scale * max|want| per tensor.

    The floor keeps entries that are ~0 in a tensor of large values from failing on round-off alone. atol_min is an
    absolute floor, for a reference with an absolute resolution of its own (finite differences).
    """

    rtol: float
    floor_scale: float = 1.0
    atol_min: float = 0.0  # an absolute floor where the reference's own error is known (finite differences)

    def atol(self, want: np.ndarray) -> float:
        finite = np.abs(want[np.isfinite(want)])
        return max(self.rtol * self.floor_scale * (float(finite.max()) if finite.size else 0.0), self.atol_min)


def constant_ratio(got: np.ndarray, want: np.ndarray) -> float | None:
    """got/want when it is one constant (to 1e-6) over every entry that is not ~0, else None."""
    big = np.abs(want) > 1e-3 * np.max(np.abs(want), initial=0.0)
    if big.sum() < 2 or not np.all(np.isfinite(got[big])):
        return None
    ratios = got[big] / want[big]
    middle = float(np.median(ratios))
    if middle == 0 or np.max(np.abs(ratios - middle)) > 1e-6 * abs(middle):
        return None
    return middle


def _passes(got: np.ndarray, want: np.ndarray, rtol: float, atol: float) -> bool:
    try:
        torch.testing.assert_close(torch.from_numpy(got), torch.from_numpy(want), rtol=rtol, atol=atol)
    except AssertionError:
        return False
    return True


def _as_float_array(value: Any) -> np.ndarray | None:
    try:
        return np.array(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def compare(name: str, got: Sequence[Any], want: Sequence[np.ndarray], labels: Sequence[Label], tol: Tolerance,
            step: int | None = None, origin: str = "worst", reference: str = "torch") -> CheckResult:
    """One verdict over paired tensors; on failure, localise to one tensor and its worst entry.

    origin="last" picks the failing tensor nearest the output (where a backprop error starts and flows down
    from); "worst" picks the largest excess over tolerance. `reference` names what `want` came from, in messages.
    """
    if not want:
        return CheckResult(name, False, step=step, reference=reference, message="nothing to compare")
    if len(got) != len(want):
        return CheckResult(name, False, step=step, reference=reference,
                           message=f"expected {len(want)} arrays, got {len(got)}")
    failures, worst_abs, worst_rel, worst_scaled = [], 0.0, 0.0, 0.0
    for i, (g_raw, w, label) in enumerate(zip(got, want, labels)):
        g = _as_float_array(g_raw)
        if g is None or g.shape != w.shape:
            found = type(g_raw).__name__ if g is None else f"shape {g.shape}"
            return CheckResult(name, False, step=step, layer=label.layer, param=label.param, reference=reference,
                               got_shape=None if g is None else g.shape,
                               message=f"{label}: expected shape {w.shape}, got {found}")
        g, w = np.atleast_1d(g), np.atleast_1d(np.asarray(w, dtype=np.float64))  # scalars get an index too
        atol = tol.atol(w)
        err = np.abs(g - w)
        err = np.where(np.isnan(err) & ~(np.isnan(g) & np.isnan(w)), np.inf, np.nan_to_num(err, nan=0.0))
        if err.size:
            worst_abs = max(worst_abs, float(err.max()))
            worst_scaled = max(worst_scaled, float(err.max()) / max(atol / tol.rtol / tol.floor_scale, np.finfo(float).tiny))
            worst_rel = max(worst_rel, float(np.max(err / np.maximum(np.abs(w), atol or np.finfo(float).tiny))))
        if not _passes(g, w, tol.rtol, atol):
            excess = err / (atol + tol.rtol * np.abs(w) + np.finfo(float).tiny)
            failures.append((i, label, g, w, float(np.max(excess)), excess))
    if not failures:
        return CheckResult(name, True, worst_abs, worst_rel, step=step, message=f"max abs err {worst_abs:.2e}",
                           reference=reference, scaled_err=worst_scaled)
    i, label, g, w, _, excess = failures[-1] if origin == "last" else max(failures, key=lambda f: f[4])
    index = np.unravel_index(int(np.argmax(excess)), excess.shape)
    ratio = constant_ratio(g, w)
    others = [str(f[1]) for f in failures if f[1] != label]
    message = f"{label} differs" + (f" at step {step}" if step is not None else "")
    message += f"; worst at {list(map(int, index))}: got {g[index]:.6g}, {reference} {w[index]:.6g}"
    if ratio is not None:
        message += f"; got = {ratio:.6g} x {reference} everywhere"
    if others:
        message += f"; also differ: {', '.join(others)}"
    return CheckResult(name, False, worst_abs, worst_rel, step, label.layer, label.param,
                       [int(k) for k in index], ratio, message, float(g[index]), float(w[index]), reference=reference,
                       scaled_err=worst_scaled, failing=[str(f[1]) for f in failures],
                       got_array=g, want_array=w.copy())  # the whole localised tensor, for plots and hints


def compare_steps(params_c: Sequence[Any], params_r: Sequence[np.ndarray], start: Sequence[np.ndarray], tol: Tolerance,
                  step: int | None = None) -> CheckResult:
    """Each side's step Δp = p_after − p_before, compared relative to the size of the reference's step (not of the
    parameters: a step of 1e-4 on weights of 1 must be right to its own digits, not to 1e-9 of the weights). A
    failure is placed on the failing tensor nearest the output: a wrong rule moves every tensor, and relative to
    the step the "worst" entry would be some near-zero step."""
    deltas_c = [np.asarray(c, dtype=np.float64) - s for c, s in zip(params_c, start)]
    deltas_r = [np.asarray(r, dtype=np.float64) - s for r, s in zip(params_r, start)]
    return compare("updates", deltas_c, deltas_r, layout.labels(len(start), prefix="Δ"), tol, step=step,
                   origin="last")
