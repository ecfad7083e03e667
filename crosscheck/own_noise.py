"""Dropout checks for a candidate that draws its own noise (a student's class: the harness cannot hand it masks).

What can still be compared exactly: the evaluation forward (no dropout there, and it must be deterministic), and
one-sample backprops whose mask is read off the candidate's own gradient (unit j of hidden layer l was dropped
<=> row j of the next weight's gradient is zero) and given to torch; plus the drop rate over those samples, and
one update. The values of updates and curves are not compared: torch cannot replay the candidate's noise.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

import torch_ref
from crosscheck import layout
from crosscheck.data import Dataset
from crosscheck.diff import compare
from crosscheck.results import CheckResult
from crosscheck.sides import Batch, Side, TorchSide
from crosscheck.spec import Spec
from crosscheck.tolerances import TOL

SAMPLES = 16  # one-sample backprops


def forward(cand: Side, ref: TorchSide, x_eval: np.ndarray) -> tuple[np.ndarray, np.ndarray, CheckResult | None]:
    """(candidate's outputs, torch's, a FAIL if evaluation is not deterministic, else None: then compare them)."""
    out_c, out_again, out_r = cand.predict(x_eval), cand.predict(x_eval), ref.predict(x_eval)
    if np.array_equal(out_c, out_again, equal_nan=True):
        return out_c, out_r, None
    return out_c, out_r, CheckResult(
        "forward", False, param="output", message="feedforward gave different outputs for the same input twice: "
        "dropout must be off when evaluating (only backprop drops)",
        hint="apply dropout only while training (backprop, update_mini_batch), never in feedforward: torch's "
             "model.eval() turns it off")


def torch_grads_with_masks(spec: Spec, params: list[np.ndarray], x: np.ndarray, y: np.ndarray,
                           noise: list[np.ndarray]) -> list[np.ndarray]:
    """torch's gradients when each nn.Dropout multiplies by the given (scaled) noise instead of drawing its own."""
    model = torch_ref.build(spec.layers, spec.hidden_activation, spec.head, spec.dropout, torch.float64)
    torch_ref.load_lab_params(model, [torch.from_numpy(p) for p in params])
    h, masks = torch.from_numpy(x), iter(noise)
    for module in model:
        h = h * torch.from_numpy(next(masks)) if isinstance(module, nn.Dropout) else module(h)
    torch_ref.loss(h, torch.from_numpy(y), spec.head).backward()
    return [g.double().numpy() for g in torch_ref.grads_lab_layout(model)]


def gradients(spec: Spec, data: Dataset, cand: Side, init: list[np.ndarray], n: int = SAMPLES) -> CheckResult:
    """One-sample backprops: the candidate's mask read off its gradient, torch given that mask, all must agree."""
    p, labels = spec.dropout, layout.labels(len(init))
    rng = np.random.default_rng([spec.seed, 7])
    decay, l2_in_backprop = layout.coupled_decays(spec), False
    dropped = total = 0
    results, hint = [], None
    for i, k in enumerate(rng.choice(len(data.x_train), n, replace=False)):
        x, y = data.x_train[k : k + 1], data.y_train[k : k + 1]
        _, grads = cand.loss_and_grads(Batch(x, y))
        if decay is not None and i == 0:  # l2 * w added in backprop fills the dropped rows: does taking it out
            data_only = layout.without_decay(grads, decay, init)  # leave exact zero rows?
            l2_in_backprop = _drops_some(data_only) and not _drops_some(grads)
        if l2_in_backprop:
            grads = layout.without_decay(grads, decay, init)
        keep = _kept_units(grads)
        dropped += sum(int((~m).sum()) for m in keep)
        total += sum(m.size for m in keep)
        want = torch_grads_with_masks(spec, init, x, y, [m[None, :] / (1.0 - p) for m in keep])
        result = compare("dropout", grads, want, labels, TOL["gradients"], origin="last")
        result.message = result.message.replace(" differs", f" differs in one-sample backprop {i}", 1)
        results.append(result)
        if not result.passed and hint is None:
            unscaled = torch_grads_with_masks(spec, init, x, y, [m[None, :] * 1.0 for m in keep])
            if compare("dropout", grads, unscaled, labels, TOL["gradients"]).passed:
                hint = ("the gradients equal torch's with the kept units left unscaled: inverted dropout multiplies "
                        "the kept activations by 1/(1-p) while training")
    rate = dropped / total
    spread = 5 * math.sqrt(p * (1 - p) / total) + 1 / total
    if abs(rate - p) > spread:
        why = ("is dropout applied in backprop?" if dropped == 0 else
               "is p the probability of dropping (not keeping) a unit?" if abs(rate - (1 - p)) <= spread else
               "the lab zeroes each hidden activation with probability p")
        return CheckResult("dropout", False, max_abs_err=abs(rate - p), got=rate, want=p, param="drop rate",
                           drop_rate=rate, message=f"backprop dropped {rate:.1%} of the hidden units over {n} "
                                                   f"one-sample mini-batches, expected p = {p:.0%}: {why}")
    bad = next((r for r in results if not r.passed), None)
    if bad is not None:
        bad.message += (" (torch was given the student's own dropout mask, read off the zero rows of the "
                        "student's gradient, scaled by 1/(1-p))")
        bad.hint, bad.drop_rate = hint, rate
        return bad
    worst = max(r.max_abs_err for r in results)
    return CheckResult("dropout", True, max_abs_err=worst, drop_rate=rate, message=(
        f"{n} one-sample backprops agree with torch given the student's own masks (max abs err {worst:.2e}); "
        f"drop rate {rate:.1%} for p = {p:.0%}"
        + ("; backprop includes the L2 term (l2 * w), taken out before comparing" if l2_in_backprop else "")
        + ". Not compared: the values of updates and curves (a class's own dropout noise cannot be replayed by "
          "torch)"))


def update(spec: Spec, data: Dataset, cand: Side) -> CheckResult:
    """One update_mini_batch: it must run and move the parameters to finite values of the right shapes (the
    adapter checks all that); its values cannot be compared, the class's dropout noise being its own."""
    cand.step(Batch(data.x_train[: spec.batch_size], data.y_train[: spec.batch_size]))
    return CheckResult("updates", True, message="one update_mini_batch ran and moved the parameters; its values "
                       "are not compared: torch cannot replay the class's dropout noise")


def _kept_units(grads: list[np.ndarray]) -> list[np.ndarray]:
    """Unit j of hidden layer l was dropped <=> its activation was 0 <=> row j of the next weight's gradient is 0."""
    return [np.any(w != 0, axis=1) for w in layout.weights(grads)[1:]]


def _drops_some(grads: list[np.ndarray]) -> bool:
    return not all(kept.all() for kept in _kept_units(grads))
