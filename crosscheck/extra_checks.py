"""Checks that only some specs need: augmented images, dropout statistics, the lab Adagrad's eps placement."""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from torch import nn

from crosscheck import layout
from crosscheck.diff import Tolerance, compare
from crosscheck.layout import Label
from crosscheck.results import CheckResult
from crosscheck.sides import Batch, Side, TorchSide
from crosscheck.spec import Spec
from crosscheck.tolerances import AUGMENT_TOL
Z_999 = 3.29  # two-sided 99.9% normal quantile: a correct sampler fails the binomial bound once in 1000 runs


def augment_images(cand: Side, ref: TorchSide, batch: Batch) -> CheckResult:
    """The candidate's augmented batch against torchvision's, for the same angles and shifts."""
    want = ref.inputs(batch).double().numpy()
    got = np.asarray(cand.inputs(batch), dtype=np.float64)
    result = compare("augment_images", [got], [want], [Label(None, "image")], AUGMENT_TOL)
    if got.shape == want.shape:
        border = ref.inputs(Batch(np.ones_like(batch.x), batch.y, angles=batch.angles, shifts=batch.shifts))
        border = border.numpy() < 1.0  # pixels whose bilinear taps reach outside the image (fill and mask apply)
        diff = np.abs(got - want)
        result.interior_err = float(diff[~border].max(initial=0.0))
        result.border_err = float(diff[border].max(initial=0.0))
        result.message += (f"; max |diff| interior {result.interior_err:.2e}, border {result.border_err:.2e}"
                           f" ({border.mean():.0%} of pixels are border); "
                           f"{np.mean(diff > AUGMENT_TOL.rtol):.2%} of pixels off by more than {AUGMENT_TOL.rtol:g}")
        if not result.passed and result.index is not None:
            image, pixel = result.index
            result.message += f"; first bad pixel: image {image}, row {pixel // 28}, column {pixel % 28}"
    return result


def dropout_statistics(spec: Spec, draw_masks: Callable[[np.random.Generator, int], list[np.ndarray]] | None,
                       samples: int = 20_000) -> CheckResult:
    """nn.Dropout itself, and the candidate's own mask sampler, against the definition of inverted dropout.

    Fraction zeroed within a 99.9% binomial bound of p, kept values exactly 1/(1-p), evaluation mode the identity.
    """
    p, width = spec.dropout, spec.layers[1]
    n = samples * width
    bound = Z_999 * np.sqrt(p * (1 - p) / n)
    torch.manual_seed(spec.seed)
    layer = nn.Dropout(p)
    ones = torch.ones(samples, width, dtype=torch.float64)
    torch_noise = layer.train()(ones).numpy()
    sources = {"nn.Dropout": torch_noise}
    if draw_masks is not None:
        sources["candidate"] = np.asarray(draw_masks(np.random.default_rng(spec.seed), samples)[0], dtype=np.float64)
    problems, stats, keep_wrong = [], {}, set()
    keep_value = float(torch_noise[torch_noise != 0].max())
    for name, noise in sources.items():
        zeroed = float(np.mean(noise == 0))
        kept = np.unique(noise[noise != 0])
        stats[name] = zeroed
        if abs(zeroed - p) > bound:
            problems.append(f"{name} zeroes {zeroed:.4f} of activations, p = {p} (99.9% bound ±{bound:.4f})")
        if kept.size != 1 or kept[0] != 1 / (1 - p):
            keep_wrong.add(name)
            problems.append(f"{name} keeps values {kept[:3]}, expected exactly 1/(1-p) = {1 / (1 - p):.6g}")
    if not torch.equal(layer.eval()(ones), ones):
        problems.append("nn.Dropout in eval mode is not the identity")
    message = "; ".join(problems) or (
        "fraction zeroed " + ", ".join(f"{k} {v:.4f}" for k, v in stats.items())
        + f" (p = {p}, 99.9% bound ±{bound:.4f}); kept values {keep_value:.6g} = 1/(1-p); eval is the identity")
    return CheckResult("dropout_statistics", not problems, max_abs_err=max(abs(v - p) for v in stats.values()),
                       param="mask", message=message, drop_rate=stats.get("candidate"),
                       keep_value_wrong="candidate" in keep_wrong)


def eps_placement(spec: Spec, init: list[np.ndarray], make_candidate: Callable, batch: Batch,
                  tol: Tolerance) -> CheckResult:
    """How far the lab's Adagrad (eps inside the root) is from torch.optim.Adagrad(eps) after one step.

    Informational: the lab's rule is checked exactly against its torch equivalent in the other checks; this says
    how much the eps placement alone moves the parameters, and where (the smallest gradients move most).
    """
    cand, lab = make_candidate(spec, init), TorchSide(spec, init)
    ref = TorchSide(spec.replace(optimizer="adagrad"), init)
    cand.step(batch), ref.step(batch), lab.step(batch)
    got, want = cand.params(), ref.params()
    moved = [np.abs(np.asarray(g) - w) for g, w in zip(got, want)]
    worst = int(np.argmax([m.max() for m in moved]))
    label = layout.label(worst)
    eps = spec.hparams.get("eps", 1e-8)
    inside = compare("eps_placement", got, lab.params(), layout.labels(len(got)), tol).passed
    why = (f"because eps sits inside the square root; it equals Adagrad(eps=0, initial_accumulator_value={eps:g}) "
           f"exactly" if inside else "and does not follow the lab's rule (eps inside the square root) either: see "
           "the updates check")
    return CheckResult(
        "eps_placement", True, informational=True, max_abs_err=float(moved[worst].max()), step=0, layer=label.layer,
        param=label.param, reference="torch.optim.Adagrad(eps)",
        message=(f"known divergence, not a bug in the check: after one step this Adagrad is up to "
                 f"{moved[worst].max():.3g} away from torch.optim.Adagrad(eps={eps:g}) (in {label}), {why}"))
