"""Dropout checks for a candidate that draws its own noise (a student's class: the harness cannot hand it masks).

What can still be compared exactly: the evaluation forward (no dropout there, and it must be deterministic), and
one-sample backprops whose mask is read off the candidate's own gradient (unit j of hidden layer l was dropped
<=> row j of the next weight's gradient is zero) and given to torch; the drop rate over those samples; and one
update, judged on the candidate's own gradients. The curves are not compared: torch cannot replay its noise.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

import torch_ref
from crosscheck import layout
from crosscheck.data import Dataset
from crosscheck.diff import compare, compare_steps
from crosscheck.layout import Label
from crosscheck.results import CheckResult
from crosscheck.sides import Batch, Side, TorchSide
from crosscheck.spec import Spec
from crosscheck.tolerances import TOL

SAMPLES = 16  # one-sample backprops compared exactly with torch's
RATE_RESOLUTION, RATE_SIGMAS = 0.009, 5.0  # the drop rate's bound: p +- 0.9 points at 5 sigma (a false alarm ~1e-6)


def forward(cand: Side, ref: TorchSide, x_eval: np.ndarray) -> tuple[np.ndarray, np.ndarray, CheckResult | None]:
    """(candidate's outputs, torch's, a FAIL if evaluation is not deterministic, else None: then compare them)."""
    out_c, out_again, out_r = cand.predict(x_eval), cand.predict(x_eval), ref.predict(x_eval)
    if np.array_equal(out_c, out_again, equal_nan=True):
        return out_c, out_r, None
    return out_c, out_r, CheckResult(
        "forward", False, param="output", message="feedforward gave different outputs for the same input twice: "
        "dropout must be off when evaluating (only backprop drops)",
        hint="apply dropout only while training (backprop, update_mini_batch), never in feedforward: torch's "
             "model.eval() turns it off", kind="bug")


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
    """One-sample backprops: the candidate's mask read off its gradient, torch given that mask, the first n must
    agree exactly; over enough of them (rate_samples) the fraction dropped must be p to within RATE_RESOLUTION."""
    p, labels = spec.dropout, layout.labels(len(init))
    rng = np.random.default_rng([spec.seed, 7])
    l2_in_backprop = decay_in_backprop(spec, data, cand, init)
    samples = rng.choice(len(data.x_train), max(n, rate_samples(spec)), replace=False)
    can_drop = _active_units(spec, init, data.x_train[samples])  # a unit at 0 anyway (relu) shows nothing
    dropped = total = 0
    results, hint = [], None
    for i, k in enumerate(samples):
        x, y = data.x_train[k : k + 1], data.y_train[k : k + 1]
        _, grads = cand.loss_and_grads(Batch(x, y))
        if l2_in_backprop:
            grads = layout.without_decay(grads, layout.coupled_decays(spec), init)
        keep = _kept_units(grads)
        dropped += sum(int((~m & a[i]).sum()) for m, a in zip(keep, can_drop))
        total += sum(int(a[i].sum()) for a in can_drop)
        if i >= n:
            continue
        want = torch_grads_with_masks(spec, init, x, y, [m[None, :] / (1.0 - p) for m in keep])
        sample = [Label(lab.layer, lab.param, case=f"one-sample backprop {i}") for lab in labels]
        result = compare("dropout", grads, want, sample, TOL["gradients"], origin="last")
        results.append(result)
        if not result.passed and hint is None:
            unscaled = torch_grads_with_masks(spec, init, x, y, [m[None, :] * 1.0 for m in keep])
            if compare("dropout", grads, unscaled, labels, TOL["gradients"]).passed:
                hint = ("the gradients equal torch's with the kept units left unscaled: inverted dropout multiplies "
                        "the kept activations by 1/(1-p) while training")
    rate = dropped / max(total, 1)
    spread = RATE_SIGMAS * math.sqrt(p * (1 - p) / max(total, 1)) + 1 / max(total, 1)
    if abs(rate - p) > spread:
        why = ("is dropout applied in backprop?" if dropped == 0 else
               "is p the probability of dropping (not keeping) a unit?" if abs(rate - (1 - p)) <= spread else
               "the lab zeroes each hidden activation with probability p")
        return CheckResult("dropout", False, max_abs_err=abs(rate - p), got=rate, want=p, param="drop rate",
                           drop_rate=rate, message=f"backprop dropped {rate:.1%} of the hidden units over "
                                                   f"{len(samples)} one-sample mini-batches ({total} units; bound "
                                                   f"± {spread:.2%}), expected p = {p:.0%}: {why}")
    bad = next((r for r in results if not r.passed), None)
    if bad is not None:
        bad.message += (" (torch was given the student's own dropout mask, read off the zero rows of the "
                        "student's gradient, scaled by 1/(1-p))")
        bad.hint, bad.drop_rate = hint, rate
        return bad
    worst = max(r.max_abs_err for r in results)
    return CheckResult("dropout", True, max_abs_err=worst, drop_rate=rate, message=(
        f"{n} one-sample backprops agree with torch given the student's own masks (max abs err {worst:.2e}); "
        f"drop rate {rate:.2%} over {total} units for p = {p:.0%} (bound ± {spread:.2%})"
        + ("; backprop includes the L2 term (l2 * w), taken out before comparing" if l2_in_backprop else "")
        + ". Not compared: the curves (torch cannot replay a class's own dropout noise over a training run)"))


def rate_samples(spec: Spec) -> int:
    """One-sample backprops enough for the drop-rate bound to resolve p to RATE_RESOLUTION (at RATE_SIGMAS)."""
    p, units = spec.dropout, sum(spec.layers[1:-1])
    needed = (RATE_SIGMAS / RATE_RESOLUTION) ** 2 * p * (1 - p)
    return math.ceil(needed / units)


def _active_units(spec: Spec, init: list[np.ndarray], x: np.ndarray) -> list[np.ndarray]:
    """Per hidden layer, (samples, units): where torch's activation (no dropout) is not exactly 0."""
    model = torch_ref.build(spec.layers, spec.hidden_activation, spec.head, 0.0, torch.float64)
    torch_ref.load_lab_params(model, [torch.from_numpy(p) for p in init])
    h, active = torch.from_numpy(x), []
    with torch.no_grad():
        for i, module in enumerate(model):
            h = module(h)
            if not isinstance(module, nn.Linear) and i < len(model) - 1:
                active.append(h.numpy() != 0)
    return active[: len(spec.layers) - 2]


def update(spec: Spec, data: Dataset, cand: Side, init: list[np.ndarray]) -> CheckResult:
    """One update_mini_batch from the initial parameters, judged on the class's own gradients: torch.optim is
    given what backprop returned from the same random state (the same masks, if the update runs backprop first),
    and both steps must agree. Where the noise cannot be replayed (a generator seeded afresh inside a method), the
    step is only checked to be torch's step on a gradient of another mask: the same direction and size."""
    batch = Batch(data.x_train[: spec.batch_size], data.y_train[: spec.batch_size])
    cand.set_params(init)
    l2_in_backprop = decay_in_backprop(spec, data, cand, init)
    grads, after, replays = cand.replay_step(batch)
    if l2_in_backprop:  # l2 * w added in backprop: torch.optim adds it itself
        grads = layout.without_decay(grads, layout.coupled_decays(spec), init)
    ref = TorchSide(spec, init)
    ref.step_with(grads)
    if replays:
        result = compare_steps(after, ref.params(), init, TOL["updates"], step=0)
        result.message += ("; torch.optim was given the gradients the class's own backprop returned from the same "
                           "random state")
        return result
    return _roughly_torchs_step(after, ref.params(), init)


def _roughly_torchs_step(params_c: list, params_r: list, start: list) -> CheckResult:
    """Without a replay the masks differ, so only the step's direction and size can be judged: the least-squares
    factor c in Δp ≈ c·Δp_torch must lie in [1/2, 2] and the cosine between them above 1/2 (a correct class
    measures c ≈ 1, cosine ≈ 0.9; a step uphill or at another scale of the learning rate is far outside)."""
    got = np.concatenate([(np.asarray(c) - s).ravel() for c, s in zip(params_c, start)])
    want = np.concatenate([(r - s).ravel() for r, s in zip(params_r, start)])
    factor = float(got @ want / (want @ want))
    cosine = float(got @ want / (np.linalg.norm(got) * np.linalg.norm(want)))
    ok = 0.5 <= factor <= 2.0 and cosine > 0.5
    return CheckResult("updates", ok, step=0, ratio=factor, message=(
        f"the class's dropout noise cannot be replayed (a second backprop from the same random state gave other "
        f"gradients), so the step is compared with torch.optim's step on the class's own gradient of another mask: "
        f"step = {factor:.3g} x torch's (cosine {cosine:.3f}; expected about 1, and within [0.5, 2])"))


def decay_in_backprop(spec: Spec, data: Dataset, cand: Side, init: list[np.ndarray], tries: int = 8) -> bool:
    """Does the class add the coupled L2 term (l2 * w) inside backprop? It fills the zero rows a dropped unit
    leaves in a one-sample gradient; taking it out brings them back. Decided on the first sample that drops."""
    decay = layout.coupled_decays(spec)
    if decay is None:
        return False
    for k in range(tries):
        _, grads = cand.loss_and_grads(Batch(data.x_train[k : k + 1], data.y_train[k : k + 1]))
        if _drops_some(grads) or _drops_some(layout.without_decay(grads, decay, init)):
            return not _drops_some(grads)
    return False


def _kept_units(grads: list[np.ndarray]) -> list[np.ndarray]:
    """Unit j of hidden layer l was dropped <=> its activation was 0 <=> row j of the next weight's gradient is 0."""
    return [np.any(w != 0, axis=1) for w in layout.weights(grads)[1:]]


def _drops_some(grads: list[np.ndarray]) -> bool:
    return not all(kept.all() for kept in _kept_units(grads))
