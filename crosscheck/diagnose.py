"""A hint for the first failing check: which line of the student's code to look at, and why.

`diagnose(result, evidence)` tries small hypotheses in order, the ones for the failing check first; the first one
the evidence confirms gives the hint, else a neutral hint says what is known. A hypothesis may only

* compare recorded arrays (the candidate's against torch's, e.g. a constant ratio, a tensor that did not move), or
* run torch itself in another configuration, spec.replace(...) driven by the real TorchSide (torch.nn / torch.optim)
  from the same initial parameters over the recorded batches, and see whether the candidate matches it exactly.

Nothing here re-implements either side: no optimizer or backward formula is written in this file.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch

import torch_ref
from crosscheck import layout
from crosscheck.checks import Evidence
from crosscheck.diff import Tolerance, compare
from crosscheck.layout import Label
from crosscheck.results import CheckResult
from crosscheck.tolerances import AUGMENT_TOL, TOL
from crosscheck.sides import TorchSide
from crosscheck.spec import HEADS, Spec

Hypothesis = Callable[[CheckResult, Evidence], "str | None"]


class Convention(str):
    """A hint naming a legitimate convention that is not torch's: the verdict stays FAIL, the result's kind says
    "convention" (a TA decides); every other hint names a bug."""

OUTPUTS = {"mse": "sigmoid", "ce": "softmax", "bce": "sigmoid"}  # heads with equal outputs differ only in the error
OUTPUT_ERRORS = {"mse": "(a − y)·a(1 − a)/B", "ce": "(p − y)/B", "bce": "(a − y)/B"}  # the error at the logits
EXP_OVERFLOW = float(np.log(np.finfo(np.float64).max))  # ~709.78: exp of anything larger is inf in float64


def diagnose(result: CheckResult, evidence: Evidence | None) -> str | None:
    """One or two sentences for a student, drawn from the evidence; None when the check passed."""
    if result.passed:
        return None
    for hypothesis in HYPOTHESES.get(result.name, []) + [neutral]:
        try:
            hint = hypothesis(result, evidence)
        except Exception:  # noqa: BLE001 - a hypothesis the evidence cannot feed (missing step, odd shapes) is silent
            hint = None
        if hint:
            result.kind = "convention" if isinstance(hint, Convention) else "bug"
            return hint[0].upper() + hint[1:] if hint[0].isascii() else hint
    return None


# --- shared helpers -----------------------------------------------------------------------------------------------

def _label(result: CheckResult) -> str:
    return str(Label(result.layer, result.param or "?"))


def _near(value: float | None, target: float, rel: float = 1e-6) -> bool:
    return value is not None and abs(value - target) <= rel * abs(target)


def _g(x: float) -> str:
    return f"{x:.4g}"


def _per_tensor(name: str, got: list, want: list, tol: Tolerance) -> list[CheckResult]:
    """compare() on each tensor alone: its own verdict and constant ratio."""
    return [compare(name, [g], [w], [label], tol) for g, w, label in zip(got, want, layout.labels(len(want)))]


def _matches(got: list, want: list, tol: Tolerance) -> bool:
    return compare("variant", got, want, layout.labels(len(want)), tol).passed


def _params_before(evidence: Evidence, step: int) -> list[np.ndarray]:
    """Parameters going into a lockstep step: torch's, given to both sides (the lockstep re-syncs every step)."""
    return evidence.params_before[step]


def _deltas(evidence: Evidence, step: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Δp = p_after − p_before at a lockstep step, candidate's and torch's."""
    start = _params_before(evidence, step)
    cand = [np.asarray(a, dtype=np.float64) - b for a, b in zip(evidence.params_candidate[step], start)]
    ref = [a - b for a, b in zip(evidence.params_torch[step], start)]
    return cand, ref


PerStep = Callable[[torch.optim.Optimizer, int, float], float]  # (optimizer, step t from 0, lr) -> this step's lr


def replay(evidence: Evidence, variant: Spec, steps: int, per_step: PerStep | None = None) -> list[list[np.ndarray]]:
    """Parameters after each of the first `steps` lockstep steps, taken by torch.optim configured as `variant`.

    Re-synced like the lockstep itself: each step starts from the recorded parameters both sides were given and is
    fed the recorded gradients torch's optimizer was fed (torch's own, or the candidate's in the `optimizer`
    check), and the variant's optimizer state (momentum, moments, accumulators) carries over as the candidate's did.
    """
    side = TorchSide(variant, evidence.init)
    history = []
    for t, (batch, start, grads) in enumerate(zip(evidence.batches[:steps], evidence.params_before[:steps],
                                                  evidence.grads_torch[:steps])):
        side.set_params(start)
        lr = variant.lr if batch.lr is None else batch.lr
        side.step_with(grads, lr if per_step is None else per_step(side.optimizer, t, lr))
        history.append(side.params())
    return history


def _replay_matches(evidence: Evidence, variant: Spec, upto: int, per_step: PerStep | None = None) -> bool:
    """Does the candidate's recorded update, steps 0..upto, equal torch's configured as `variant`?"""
    try:
        history = replay(evidence, variant, upto + 1, per_step)
    except (ValueError, TypeError):  # a configuration torch rejects is not a candidate explanation
        return False
    got = evidence.params_candidate[: upto + 1]
    return len(history) == len(got) == upto + 1 and all(
        _matches(g, w, TOL["updates"]) for g, w in zip(got, history))


def _torch_predict(evidence: Evidence, variant: Spec, init: list[np.ndarray] | None = None) -> np.ndarray:
    return TorchSide(variant, evidence.init if init is None else init).predict(evidence.x_eval)


def _by_output_error(ev: Evidence, spec: Spec, heads: list[str], step: int) -> list[str]:
    """Those of `heads` for which torch configured as spec.replace(head=...) gives the candidate's gradient of the
    output bias at lockstep step `step`: that gradient is the output error summed over the batch, so it names the
    head, and neither an L2 term on the weights nor a slip in a hidden layer reaches it."""
    if len(ev.grads_candidate) <= step:
        return []
    batch, start, got = ev.batches[step], _params_before(ev, step), ev.grads_candidate[step][-1]
    want = {h: TorchSide(spec.replace(head=h), start).loss_and_grads(batch)[1][-1] for h in heads}
    return [h for h in heads if _matches([got], [want[h]], TOL["gradients"])]


def _sigmoid_twin(ev: Evidence, spec: Spec, head: str) -> tuple[str, str, str]:
    """(head, why, alternative) for outputs that equal torch's with `head`: sigmoid + MSE and sigmoid + BCE give the
    same outputs, so the candidate's output error decides between them; when it cannot, the other is named too."""
    twins = [h for h in HEADS if h != spec.head and OUTPUTS[h] == OUTPUTS[head]]
    if len(twins) < 2:
        return head, "", ""
    found = _by_output_error(ev, spec, twins, 0)
    if len(found) == 1:
        return found[0], f", and your output error is {OUTPUT_ERRORS[found[0]]}", ""
    other = next(h for h in twins if h != head)
    return head, "", f" (or --head {other} if your output error is {OUTPUT_ERRORS[other]})"


def _hidden_scaled(spec: Spec, params: list[np.ndarray], factor: float) -> list[np.ndarray]:
    """The same network with every hidden activation multiplied by `factor`, written as the weights that read them
    (h·f @ W = h @ f·W): lets torch itself compute "dropout scaled by (1−p) somewhere it should not be"."""
    scaled = [w * factor for w in layout.weights(params)[1:]]  # every weight after the first layer
    return layout.interleave(layout.weights(params)[:1] + scaled, layout.biases(params))


# --- forward: the outputs at the initial parameters ---------------------------------------------------------------

def softmax_overflow(result: CheckResult, ev: Evidence) -> str | None:
    """NaN/inf where torch is finite, in rows whose logits are beyond exp's float64 range."""
    bad = ~np.all(np.isfinite(ev.out_candidate), axis=1) & np.all(np.isfinite(ev.out_torch), axis=1)
    if not bad.any():
        return None
    logits_side = TorchSide(ev.spec.replace(head="ce"), ev.init)  # the ce head's network ends in raw logits
    logits_side.model.eval()
    with torch.no_grad():
        logits = logits_side.model(torch.from_numpy(ev.x_eval)).numpy()
    top = np.max(logits[bad], axis=1)
    if not np.all((top > EXP_OVERFLOW) | (top < -745.0)):
        return (f"{int(bad.sum())} output rows are NaN/inf where torch's are finite, but their logits are in exp's "
                f"range: look for a division by zero or log(0) in the forward pass.")
    return (f"{int(bad.sum())} output rows are NaN/inf where torch's are finite, and exactly those rows have logits up "
            f"to {np.max(np.abs(top)):.3g}: exp overflows float64 beyond ~709. Subtract each row's max before exp "
            f"(stable softmax); the shift cancels in the ratio.")


def other_architecture(result: CheckResult, ev: Evidence) -> str | None:
    """The outputs equal torch's with the other output head and/or another hidden activation."""
    spec = ev.spec
    heads = [spec.head] + [h for h in HEADS if h != spec.head]
    hiddens = [spec.hidden_activation] + [a for a in torch_ref.model.ACTIVATIONS if a != spec.hidden_activation]
    variants = [(h, a) for a in hiddens for h in heads if (h, a) != (spec.head, spec.hidden_activation)]
    for head, hidden in variants:
        if not _matches([ev.out_candidate], [_torch_predict(ev, spec.replace(head=head, hidden_activation=hidden))],
                        TOL["forward"]):
            continue
        parts = []
        if hidden == "softmax":
            parts.append(f"your outputs equal torch's with nn.Softmax as the hidden activation: softmax belongs only "
                         f"at the output (it turns a layer into a distribution); use {spec.hidden_activation} in the "
                         f"hidden layers.")
        elif hidden != spec.hidden_activation:
            parts.append(f"your outputs equal torch's with {hidden} hidden layers; the '{spec.name}' preset uses "
                         f"{spec.hidden_activation}; rerun with --hidden {hidden} to check the rest (in a notebook: "
                         f"check(..., hidden={hidden!r})).")
        if head != spec.head:
            head, why, alternative = _sigmoid_twin(ev, spec.replace(hidden_activation=hidden), head)
            sums = "sum to 1" if head == "ce" else "don't sum to 1"
            parts.append(f"Your network ends in {HEADS[head]} (your rows {sums} and equal torch's {HEADS[head]} "
                         f"outputs{why}); the '{spec.name}' preset assumes {HEADS[spec.head]}; rerun with --head "
                         f"{head}{alternative} to check your optimizer (in a notebook: check(..., head={head!r})).")
        return " ".join(parts)
    return None


def dropout_scaled_at_eval(result: CheckResult, ev: Evidence) -> str | None:
    """Evaluation outputs equal torch's with hidden activations scaled by (1−p): "classic" dropout."""
    p = ev.spec.dropout
    if not p:
        return None
    scaled = _torch_predict(ev, ev.spec, _hidden_scaled(ev.spec, ev.init, 1 - p))
    if not _matches([ev.out_candidate], [scaled], TOL["forward"]):
        return None
    return Convention(
        f"your evaluation outputs equal torch's with every hidden activation scaled by 1−p = {_g(1 - p)}: that is "
        f"'classic' dropout (scale at evaluation), equivalent to torch's inverted nn.Dropout with every weight after "
        f"a dropout layer multiplied by 1−p. A convention, not torch's: torch and the lab use inverted dropout, "
        f"scaling the kept units by 1/(1−p) during training and leaving evaluation untouched.")


def dropout_active_at_eval(result: CheckResult, ev: Evidence) -> str | None:
    """Outputs off by about as much as torch's own training-mode (dropout on) outputs, while training steps agree."""
    p = ev.spec.dropout
    if not p or not ev.grads_candidate or not np.all(np.isfinite(ev.out_candidate)):
        return None
    if not _matches(ev.grads_candidate[0], ev.grads_torch[0], TOL["gradients"]):
        return None
    side = TorchSide(ev.spec, ev.init)
    side.model.train()
    torch.manual_seed(ev.spec.seed)
    with torch.no_grad():
        train_mode = torch_ref.probabilities(side.model(torch.from_numpy(ev.x_eval)), ev.spec.head).numpy()
    yours = np.median(np.abs(ev.out_candidate - ev.out_torch).sum(axis=1))
    dropout_sized = np.median(np.abs(train_mode - ev.out_torch).sum(axis=1))
    if not dropout_sized / 3 <= yours <= 3 * dropout_sized:
        return None
    return (f"your training steps agree with torch's but your evaluation outputs are off by about as much as dropout "
            f"moves them (median row |Δ| {yours:.3g}, torch in training mode {dropout_sized:.3g}): dropout is still "
            f"active at evaluation; apply it only in training (torch's model.eval() turns it off).")


# --- loss and gradients on a batch ---------------------------------------------------------------------------------

def loss_factor(result: CheckResult, ev: Evidence) -> str | None:
    """The reported loss is a telling constant times torch's."""
    if result.got is None or not result.want or not np.isfinite(result.got):
        return None
    ratio, batch, classes = result.got / result.want, len(ev.batches[0].y), ev.spec.layers[-1]
    meanings = [(batch, f"B = {batch}: the loss is summed over the batch instead of averaged")]
    meanings.append((1 / batch, f"1/B: the loss is divided by the batch size twice"))
    if ev.spec.head == "mse":
        meanings += [(2.0, "2: the squared error lacks the 1/2 (the lab's loss is sum((a − y)²)/(2B))"),
                     (2 / classes, f"2/{classes}: it is the mean over all B·{classes} entries (nn.MSELoss's default) "
                                   f"instead of sum((a − y)²)/(2B)")]
    else:
        meanings.append((1 / classes, f"1/{classes}: the cross-entropy is also averaged over the classes; sum over "
                                      f"classes, average over samples"))
    for factor, meaning in meanings:
        if _near(ratio, factor, 1e-9):
            return f"your loss is exactly {_g(ratio)} × torch's, i.e. {meaning}."
    return None


def dropout_not_rescaled(result: CheckResult, ev: Evidence) -> str | None:
    """Training-mode loss or gradients equal torch's with the kept units left at 1 instead of 1/(1−p)."""
    p = ev.spec.dropout
    if not p:
        return None
    step = result.step or 0
    variant = TorchSide(ev.spec, _hidden_scaled(ev.spec, _params_before(ev, step), 1 - p))
    loss, grads = variant.loss_and_grads(ev.batches[step])
    if result.name == "loss":
        match = _near(result.got, loss, TOL["loss"].rtol * 10)
    else:  # the candidate's weights after a hidden layer are the variant's W' / (1−p), so d/dW = (1−p)·d/dW'
        match = _matches(ev.grads_candidate[step], _hidden_scaled(ev.spec, grads, 1 - p), TOL["gradients"])
    if not match:
        return None
    return (f"with dropout on, your training forward equals torch's with every hidden activation scaled by 1−p = "
            f"{_g(1 - p)}: the kept units are not rescaled by 1/(1−p). Use inverted dropout, a * mask / (1 − p), "
            f"as torch and the lab do (evaluation then needs no scaling).")


def gradient_shape(result: CheckResult, ev: Evidence) -> str | None:
    if result.got_shape is None:
        return None
    step = result.step or 0
    i = layout.index(result.layer, result.param)
    got = np.shape(ev.grads_candidate[step][i])
    want = ev.grads_torch[step][i].shape
    batch, label = len(ev.batches[step].y), _label(result)
    if result.param == "weight" and got == want[::-1]:
        return (f"the gradient of {label} has shape {got}, the transpose of the weights' {want}: in the lab's layout "
                f"(n_in, n_out) it is layer_input.T @ delta, not delta.T @ layer_input.")
    if result.param == "bias" and got == (batch, *want):
        return (f"the gradient of {label} has shape {got}, one row per sample: sum delta over the batch axis, "
                f"np.sum(delta, axis=0).")
    if result.param == "bias" and got == (batch,):
        return (f"the gradient of {label} has shape {got}: delta is summed over the units (axis=1) instead of over "
                f"the batch; use np.sum(delta, axis=0).")
    if got == (1, *want):
        return f"the gradient of {label} has shape {got}: drop keepdims=True so it matches the parameter's {want}."
    return None


def global_gradient_factor(result: CheckResult, ev: Evidence) -> str | None:
    """Every gradient tensor is the same constant times torch's: the factor entered at the output error."""
    step = result.step or 0
    checks = _per_tensor("gradients", ev.grads_candidate[step], ev.grads_torch[step], TOL["gradients"])
    ratios = [c.ratio for c in checks]
    if any(c.passed or c.ratio is None for c in checks) or not all(_near(r, ratios[0]) for r in ratios):
        return None
    r, batch = ratios[0], len(ev.batches[step].y)
    error = "p − y" if ev.spec.head == "ce" else "a − y"
    why = {
        batch: f", and {batch} is the batch size: the gradient is summed over the batch instead of averaged; "
               f"divide the output error by len(y) once (if update_mini_batch divides by len(y) instead, training is "
               f"the same, but backprop must return the batch-mean gradient, as torch's mean loss.backward() does)",
        1 / batch: f", and 1/{batch} is one over the batch size: the batch average is taken twice ({error} is "
                   f"divided by len(y) once only)",
        -1.0: f": the sign of the output error is flipped; use {error}, not {error[-1]} − {error[0]}",
    }
    if ev.spec.head == "mse":
        why[2.0] = (": the derivative of (a − y)² without the 1/2; the lab's loss is sum((a − y)²)/(2B), whose "
                    "derivative is (a − y)/B")
    for factor, meaning in why.items():
        if _near(r, factor):
            return f"every gradient is exactly {_g(r)} × torch's, in every layer{meaning}."
    return (f"every gradient is exactly {_g(r)} × torch's, in every layer: backprop is linear in the output error, so "
            f"the factor is in the error at the output ({error})/B; look for an extra constant there.")


def per_layer_factor(result: CheckResult, ev: Evidence) -> str | None:
    """Each layer's gradients (weight and bias) are one constant times torch's, the constants differing by layer: the
    normalisation happens per layer, not once at the output error; named when they are B/fan-in or B/fan-out."""
    step = result.step or 0
    checks = _per_tensor("gradients", ev.grads_candidate[step], ev.grads_torch[step], TOL["gradients"])
    ratios = [1.0 if c.passed else c.ratio for c in checks]
    if None in ratios or any(not _near(w, b) for w, b in zip(ratios[0::2], ratios[1::2])):
        return None
    layers = ratios[0::2]
    if all(_near(r, layers[0]) for r in layers):
        return None
    batch, sizes = len(ev.batches[step].y), ev.spec.layers
    listed = ", ".join(f"layer {i}: {_g(r)}" for i, r in enumerate(layers))
    for what, width in (("fan-in", sizes[:-1]), ("fan-out", sizes[1:])):
        if all(_near(r, batch / n) for r, n in zip(layers, width)):
            return (f"each layer's gradients are a different multiple of torch's ({listed}), each = B/{what} of that "
                    f"layer (B = {batch}): every layer divides by its {what} ({', '.join(map(str, width))}) instead of "
                    f"the batch size; divide the output error by len(y) once and nowhere else.")
    return (f"each layer's gradients are one constant times torch's, a different one per layer ({listed}): a factor "
            f"enters per layer (in the line computing that layer's delta or gradient), not once at the output error.")


def l2_in_gradient(result: CheckResult, ev: Evidence) -> str | None:
    """Each gradient is torch's plus c·p (c fitted per tensor, one c for all weights): an L2 term in backprop."""
    step = result.step or 0
    params = _params_before(ev, step)
    coefficients = []
    for got, want, p in zip(ev.grads_candidate[step], ev.grads_torch[step], params):
        extra, norm = np.asarray(got, dtype=np.float64) - want, float(np.vdot(p, p))
        c = float(np.vdot(extra, p)) / norm if norm else 0.0
        if not _matches([got], [want + c * p], TOL["gradients"]):
            return None
        coefficients.append(0.0 if _matches([got], [want], TOL["gradients"]) else c)
    weights, biases = coefficients[0::2], coefficients[1::2]
    c = weights[0]
    if not c or not all(_near(w, c) for w in weights) or any(b and not _near(b, c) for b in biases):
        return None
    wd = float(ev.spec.hparams.get("weight_decay") or 0.0)
    on_biases = any(biases)
    if ev.spec.optimizer == "adamw" and _near(c, wd) and not on_biases:
        return (f"backprop adds weight_decay·w = {_g(c)}·w to the weight gradients: that is Adam's L2, which passes "
                f"through m and v. AdamW's decay is decoupled: leave it out of the gradient and shrink the weights "
                f"in the update, w −= lr·wd·w.")
    if _near(c, wd) and not on_biases:
        if step == 0:  # only a candidate outside student mode (which takes a steady l2·w out) gets here at step 0
            return (f"backprop adds the L2 term l2·w = {_g(c)}·w: the data-loss gradient is compared, torch adds "
                    f"weight_decay·w in the optimizer step.")
        return (f"backprop adds the L2 term l2·w = {_g(c)}·w at step {step}, which the first backprop did not "
                f"(torch's data-loss gradient is compared): add the L2 term in one place, the same at every step.")
    if _near(c, wd) and on_biases:
        return (f"backprop adds l2·p = {_g(c)}·p to the bias gradients as well as the weights': L2 regularises the "
                f"weights only; the biases get no decay term.")
    if _near(c, 2 * wd):
        return (f"backprop adds 2·l2·w = {_g(c)}·w: L2 here is (l2/2)·‖w‖² per weight (torch's weight_decay = l2), "
                f"whose derivative is l2·w, not 2·l2·w." + (" The biases get no decay term." if on_biases else ""))
    expected = f"this model's L2 factor is {_g(wd)}" if wd else "this model has no L2 term (weight_decay 0)"
    return (f"your gradients are exactly torch's plus {_g(c)}·w" + (" (biases included)" if on_biases else "")
            + f": an L2 term in backprop, but {expected}; check how the L2 factor enters the gradient.")


def _failing(result: CheckResult, ev: Evidence) -> tuple[int, list[CheckResult]]:
    """The failing step and every gradient tensor compared on its own there."""
    step = result.step or 0
    return step, _per_tensor("gradients", ev.grads_candidate[step], ev.grads_torch[step], TOL["gradients"])


def confined_to_one_kind(result: CheckResult, ev: Evidence) -> str | None:
    """Only bias gradients fail (weights pass, so delta is right) or only weight gradients."""
    step, checks = _failing(result, ev)
    failing = [c for c in checks if not c.passed]
    kinds = {c.param for c in failing}
    if len(kinds) != 1:
        return None
    names = ", ".join(_label(c) for c in failing)
    ratios = [c.ratio for c in failing]
    same = ratios[0] is not None and all(_near(r, ratios[0]) for r in ratios)
    batch = len(ev.batches[step].y)
    if kinds == {"bias"}:
        if same and _near(ratios[0], 1 / batch):
            return (f"only the bias gradients differ ({names}), each 1/B = {_g(ratios[0])} × torch's: the bias "
                    f"gradient is averaged over the batch, but delta already carries the 1/B; sum it, "
                    f"np.sum(delta, axis=0).")
        factor = f" ({_g(ratios[0])} × torch's)" if same else ""
        return (f"only the bias gradients differ ({names}){factor} while every weight gradient matches, so delta is "
                f"right: the bias gradient is delta summed over the batch axis, np.sum(delta, axis=0).")
    factor = f" ({_g(ratios[0])} × torch's)" if same else ""
    return (f"only the weight gradients differ ({names}){factor} while every bias gradient matches, so delta is "
            f"right: the weight gradient is layer_input.T @ delta, with each layer's input activation.")


def fan_factor(result: CheckResult, ev: Evidence) -> str | None:
    """A single gradient tensor off by exactly its layer's fan-in or fan-out (or one over it)."""
    step, checks = _failing(result, ev)
    failing = [c for c in checks if not c.passed]
    if len(failing) != 1 or failing[0].ratio is None:
        return None
    c = failing[0]
    n_in, n_out = ev.spec.layers[c.layer], ev.spec.layers[c.layer + 1]
    for size, what in ((n_in, "fan-in"), (n_out, "fan-out")):
        for factor, how in ((1 / size, f"1/{what}"), (float(size), what)):
            if _near(c.ratio, factor):
                return (f"only the gradient of {_label(c)} differs, by exactly {_g(c.ratio)} = {how} of that layer "
                        f"({size}): a normalisation by the layer width (e.g. a mean over the wrong axis) in the line "
                        f"that computes it.")
    return None


def transposed_values(result: CheckResult, ev: Evidence) -> str | None:
    step, checks = _failing(result, ev)
    for i, c in enumerate(checks):
        got, want = np.asarray(ev.grads_candidate[step][i]), ev.grads_torch[step][i]
        if not c.passed and want.ndim == 2 and want.shape[0] == want.shape[1] and _matches([got.T], [want],
                                                                                           TOL["gradients"]):
            return (f"the gradient of {_label(c)} is torch's transposed: in the lab's layout (n_in, n_out) the weight "
                    f"gradient is layer_input.T @ delta.")
    return None


def below_output_only(result: CheckResult, ev: Evidence) -> str | None:
    """The output layer's gradients match, a hidden layer's don't: delta goes wrong crossing a hidden activation."""
    step, checks = _failing(result, ev)
    if any(not c.passed for c in checks[-2:]) or all(c.passed for c in checks):
        return None
    first = next(c for c in reversed(checks) if not c.passed)
    act = ev.spec.hidden_activation
    derivative = "σ'(z) = a(1 − a)" if act == "sigmoid" else f"{act}'(z)"
    return (f"the output layer's gradients match but {_label(first)}'s don't: the error goes wrong when delta is "
            f"carried back through a hidden {act}. Check that delta @ W.T is multiplied by the activation derivative "
            f"{derivative} at the pre-activation z, once per hidden layer (σ'(a) on the activation, or no derivative "
            f"at all, gives this pattern).")


def output_layer_wrong(result: CheckResult, ev: Evidence) -> str | None:
    step, checks = _failing(result, ev)
    if all(c.passed for c in checks[-2:]):
        return None
    if ev.spec.head == "mse":
        rule = "(a − y)/B ⊙ σ'(z) = (a − y)/B ⊙ a(1 − a), with a the output"
    elif ev.spec.head == "bce":
        rule = ("(a − y)/B with a the sigmoid output: σ'(z) = a(1 − a) cancels against the log, so no a(1 − a) "
                "factor")
    else:
        rule = ("(p − y)/B with p the softmax output: the softmax Jacobian cancels against the log, so no extra "
                "derivative")
    return (f"the output layer's gradient already differs (and not by one constant), so the error at the output is "
            f"wrong: for {HEADS[ev.spec.head]} it is {rule}.")


def other_head_error(result: CheckResult, ev: Evidence) -> str | None:
    """The outputs match, and the output error is that of the other head with the same outputs (MSE vs BCE)."""
    spec, step = ev.spec, result.step or 0
    twins = [h for h in HEADS if h != spec.head and OUTPUTS[h] == OUTPUTS[spec.head]]
    found = _by_output_error(ev, spec, twins, step)
    if len(found) != 1:
        return None
    head = found[0]
    return (f"your outputs match, but your output error is {OUTPUT_ERRORS[head]}, that of {HEADS[head]} (your output "
            f"bias gradient equals torch's with that head), while this run checks {HEADS[spec.head]}, whose error is "
            f"{OUTPUT_ERRORS[spec.head]}; rerun with --head {head} to check your optimizer (in a notebook: "
            f"check(..., head={head!r})).")


def nonfinite_gradients(result: CheckResult, ev: Evidence) -> str | None:
    step = result.step or 0
    bad = [str(lab) for g, w, lab in zip(ev.grads_candidate[step], ev.grads_torch[step], layout.labels(len(ev.init)))
           if not np.all(np.isfinite(g)) and np.all(np.isfinite(w))]
    if not bad:
        return None
    return (f"the gradients of {', '.join(bad)} contain NaN/inf where torch's are finite: an overflow (exp of a large "
            f"value, e.g. an unshifted softmax) or a division by zero in the backward pass.")


# --- updates: gradients matched, parameters after the step differ -------------------------------------------------

def unchanged_parameters(result: CheckResult, ev: Evidence) -> str | None:
    """Δp == 0 where torch moved the parameter."""
    step = result.step
    cand, ref = _deltas(ev, step)
    labels = layout.labels(len(ref))
    still = [lab for c, r, lab in zip(cand, ref, labels) if not np.any(c) and np.any(r)]
    if not still:
        return None
    if len(still) == sum(bool(np.any(r)) for r in ref):
        if step == 0:
            return ("no parameter changed at step 0 although the gradients matched: the update is applied one step "
                    "late (e.g. parameters moved by the velocity/gradient before it is computed) or never written "
                    "back to the network.")
        return f"no parameter changed at step {step} although the gradients matched: the update was not applied."
    names = ", ".join(map(str, still))
    return (f"{names} did not change at step {step} (Δp = 0) while torch moved them and their gradients matched: their "
            f"update is never applied (e.g. assigned to a loop variable or a copy, not written back).")


def lagging_update(result: CheckResult, ev: Evidence) -> str | None:
    """The candidate's Δp at step s equals torch's at step s−1."""
    step = result.step
    if step == 0:
        return None
    cand, _ = _deltas(ev, step)
    _, previous = _deltas(ev, step - 1)
    if not _matches(cand, previous, TOL["updates"]):
        return None
    return (f"your update at step {step} is exactly torch's update of step {step - 1}: it lags one step (e.g. the "
            f"parameters move by the velocity or gradient from the previous batch, before it is updated).")


def optimizer_variants(spec: Spec, step: int, n_train: int | None = None) -> list[tuple[Spec, str]]:
    """torch.optim configurations a slip (or another convention) in the student's update would equal, each with what
    it means; n_train, the training set's size, lets Nielsen's λ/n be recognised."""
    hp, lr = dict(spec.hparams), spec.lr
    wd, mu = hp.get("weight_decay", 0.0), hp.get("momentum", 0.0)
    out: list[tuple[Spec, str]] = []

    def with_hp(**changes) -> Spec:
        return spec.replace(hparams={**hp, **changes})

    if wd:
        if spec.decay_biases:
            out.append((spec.replace(decay_biases=False), "weight decay is missing on the biases: this preset "
                        "decays every parameter (one param group, as torch and the lab do)."))
        else:
            out.append((spec.replace(decay_biases=True), "weight decay is applied to the biases too: this preset "
                        "decays weights only (biases get weight_decay 0)."))
        out.append((with_hp(weight_decay=0.0), "no weight decay is applied: your updates match torch's with "
                    "weight_decay=0."))
        out.append((with_hp(weight_decay=2 * wd), f"your weight decay is doubled: your updates equal torch's with "
                    f"weight_decay = 2·wd = {_g(2 * wd)} (the L2 term added twice, e.g. in backprop and again in the "
                    f"update, or the derivative of wd·‖w‖² where the L2 term is (wd/2)·‖w‖²)."))
        if n_train:
            out.append((with_hp(weight_decay=wd / n_train), Convention(
                f"your weight decay is Nielsen's λ/n with n = {n_train}, the training set's size: equivalent to "
                f"torch's weight_decay = λ/n = {_g(wd / n_train)} (w ← (1 − ηλ/n)·w). A convention, not torch's: this "
                f"preset's weight_decay is λ = {_g(wd)} itself, so pass λ/n in or compare with --hparam.")))
        batch = spec.batch_size
        out.append((with_hp(weight_decay=wd / batch), f"your weight decay is divided by the batch size: your updates "
                    f"equal torch's with weight_decay = wd/B = {_g(wd / batch)}. The L2 factor multiplies w as it is "
                    f"(in Nielsen's (1 − ηλ/n)·w, n is the training-set size, not the mini-batch's)."))
        if mu and spec.optimizer == "sgd":
            caveat = (" This is matched at step 0 only, where torch's momentum buffer is just the gradient: torch "
                      "sends wd·w through the buffer, and a decay outside it has no torch.optim form.")
        else:
            caveat = " (Exact here because momentum is 0.)"
        out.append((with_hp(weight_decay=wd / lr), f"the weight decay is not scaled by the learning rate: your update "
                    f"equals torch's with weight_decay = wd/lr = {_g(wd / lr)}, i.e. w −= wd·w instead of "
                    f"w −= lr·wd·w.{caveat}"))
        if spec.optimizer == "adamw":
            out.append((spec.replace(optimizer="adam"), "your decay is Adam-style L2 (wd·w added to the gradient, so "
                        "it passes through m and v) instead of AdamW's decoupled decay w −= lr·wd·w."))
        if spec.optimizer == "adam":
            out.append((spec.replace(optimizer="adamw"), "your decay is AdamW's decoupled w −= lr·wd·w, but this "
                        "preset is Adam with L2: wd·w is added to the gradient before m and v."))
    if spec.optimizer == "adagrad":  # "adagrad-lab" is torch's Adagrad(eps=0, initial_accumulator_value=ε)
        out.append((spec.replace(optimizer="adagrad-lab"), "your Adagrad puts ε inside the square root, "
                    "g/√(G + ε) (the lab's Adagrad, which equals torch's Adagrad(eps=0, initial_accumulator_value=ε) "
                    "exactly); torch.optim.Adagrad uses g/(√G + ε)."))
    if spec.optimizer == "adagrad-lab":
        out.append((spec.replace(optimizer="adagrad"), "your Adagrad puts ε outside the square root, g/(√G + ε), "
                    "as torch.optim.Adagrad does; the lab's Adagrad puts it inside, g/√(G + ε)."))
    if spec.optimizer in ("adam", "adamw") and step == 0:
        out += _adam_without_bias_correction(spec)
    if spec.optimizer == "sgd" and mu:
        nesterov = hp.get("nesterov", False)
        out.append((with_hp(nesterov=not nesterov), "Nesterov momentum is " + (
            "missing: torch's nesterov=True steps with g + μ·v, not v." if nesterov else
            "used, but this preset is plain momentum: step with v, not g + μ·v.")))
        if not nesterov:
            out.append((with_hp(dampening=mu), Convention(
                f"your momentum is an EMA, v = μv + (1 − μ)g, started at the first gradient: equivalent to torch's "
                f"SGD with dampening = μ = {_g(mu)}. A convention, not the lab's: torch and the lab use v = μv + g.")))
            ema = (f"your momentum is an EMA, v = μv + (1 − μ)g from v = 0: equivalent to torch's SGD(momentum=μ) "
                   f"with lr × (1 − μ) = {_g(lr * (1 - mu))} (v = (1 − μ)·torch's buffer at every step)")
            if _near(lr, 1 - mu):  # lr·(1 − μ) = lr²: an EMA and lr applied twice take the same steps
                out.append((spec.replace(lr=lr * (1 - mu)), f"either the learning rate is applied twice (here lr = "
                            f"1 − μ = {_g(lr)}: is lr applied twice, e.g. in the velocity and again in the update?), "
                            f"or {ema}, a convention "
                            f"rather than a bug; at lr = 1 − μ the two take the same steps: rerun with another "
                            f"learning rate to tell them apart."))
            else:
                out.append((spec.replace(lr=lr * (1 - mu)), Convention(
                    f"{ema}. A convention, not the lab's v = μv + g; if you did not write an EMA, the learning rate "
                    f"enters {_g(1 - mu)} × too small.")))
        out.append((with_hp(momentum=0.0, nesterov=False), "momentum is missing: your updates match plain SGD "
                    "(momentum=0)."))
    return out


def _adam_without_bias_correction(spec: Spec) -> list[tuple[Spec, str]]:
    """Step 0 of Adam without bias correction(s), written as torch's own Adam step with other constants.

    At step 1 m = (1−β1)g and v = (1−β2)g², so dropping m̂ = m/(1−β1) multiplies the step by c1 = 1−β1 and dropping
    v̂ = v/(1−β2) divides the denominator by c2 = 1/√(1−β2): that is torch's step with lr·c1·c2 and eps·c2, the
    decoupled decay kept at lr·wd. Only the first step is matched this way, which is where the slip shows.
    """
    b1, b2 = spec.hparams.get("betas", (0.9, 0.999))
    eps, wd = spec.hparams.get("eps", 1e-8), spec.hparams.get("weight_decay", 0.0)
    out = []
    for c1, c2, missing in ((1 - b1, 1 / np.sqrt(1 - b2), "both bias corrections are"),
                            (1 - b1, 1.0, "the bias correction of m, m̂ = m/(1 − β1^t), is"),
                            (1.0, 1 / np.sqrt(1 - b2), "the bias correction of v, v̂ = v/(1 − β2^t), is")):
        factor = c1 * c2
        changes = dict(eps=eps * c2)
        if wd and spec.optimizer == "adamw":
            changes["weight_decay"] = wd / factor
        variant = spec.replace(lr=spec.lr * factor, hparams={**spec.hparams, **changes})
        name = "(1 − β1)/√(1 − β2)" if c1 != 1 and c2 != 1 else "1 − β1" if c1 != 1 else "1/√(1 − β2)"
        out.append((variant, f"your first Adam step is {_g(factor)} × torch's (= {name}): {missing} missing (at step "
                    f"0 this is indistinguishable from a learning rate × {_g(factor)})."))
    return out


def optimizer_variant(result: CheckResult, ev: Evidence) -> str | None:
    """Replay torch configured as each plausible slip; the one the candidate's recorded parameters follow is it."""
    for variant, meaning in optimizer_variants(ev.spec, result.step, ev.n_train):
        if _replay_matches(ev, variant, result.step):
            return meaning
    return None


def kingma_ba_adam(result: CheckResult, ev: Evidence) -> str | None:
    """Kingma & Ba's "efficient" Adam, the bias corrections folded into the step size α_t = α·√(1 − β2^t)/(1 − β1^t):
    it equals torch's Adam with a per-step ε_t = ε/√(1 − β2^t), replayed as such (torch's eps set before each step)."""
    spec = ev.spec
    if spec.optimizer not in ("adam", "adamw"):
        return None
    beta2, eps = spec.hparams.get("betas", (0.9, 0.999))[1], spec.hparams.get("eps", 1e-8)

    def per_step_eps(optimizer: torch.optim.Optimizer, t: int, lr: float) -> float:
        for group in optimizer.param_groups:
            group["eps"] = eps / np.sqrt(1 - beta2 ** (t + 1))
        return lr

    if not _replay_matches(ev, spec, result.step, per_step_eps):
        return None
    return Convention(f"your {spec.optimizer} is Kingma & Ba's 'efficient' form, the bias corrections folded into the "
                      f"step size α·√(1 − β2^t)/(1 − β1^t) with ε added to √v: equivalent to torch's Adam with a "
                      f"per-step ε_t = ε/√(1 − β2^t) (ε_1 = {_g(eps / np.sqrt(1 - beta2))}). A convention, not "
                      f"torch's: torch adds ε to √v̂, after the correction.")


def _corrected_as(spec: Spec, exponent: Callable[[int], float]) -> PerStep:
    """torch's Adam/AdamW made to take bias corrections 1 − β^e(t) instead of 1 − β^t, by its own constants per step:
    (lr/bc1)·m/(√v/√bc2 + ε) with lr·(bc1/bc1')·√(bc2'/bc2), ε·√(bc2'/bc2) (and AdamW's lr·wd kept) is the step
    with bc1', bc2' (bc = 1 for e = ∞: no correction)."""
    beta1, beta2 = spec.hparams.get("betas", (0.9, 0.999))
    eps = spec.hparams.get("eps", 1e-8)

    def per_step(optimizer: torch.optim.Optimizer, t: int, lr: float) -> float:
        e = exponent(t + 1)
        bc1, bc2 = 1 - beta1 ** (t + 1), 1 - beta2 ** (t + 1)
        bc1_, bc2_ = 1 - beta1**e, 1 - beta2**e
        lr_ = lr * bc1 / bc1_ * np.sqrt(bc2_ / bc2)
        for group in optimizer.param_groups:
            wd = group.setdefault("configured_weight_decay", group["weight_decay"])  # the group's own, kept
            group["eps"] = eps * np.sqrt(bc2_ / bc2)
            group["weight_decay"] = wd * lr / lr_ if spec.optimizer == "adamw" else wd
        return lr_

    return per_step


def adam_bias_correction(result: CheckResult, ev: Evidence) -> str | None:
    """Adam's bias corrections with another exponent than the step count t, replayed by torch's own Adam with
    per-step constants (`_corrected_as`): missing (β^∞), the batch size, t + 1 (counter advanced twice), t − 1."""
    spec = ev.spec
    if spec.optimizer not in ("adam", "adamw"):
        return None
    batch = spec.batch_size
    exponents = [(lambda t: np.inf, "missing at every step (m and v are used as they are, not m/(1 − β1^t), "
                                    "v/(1 − β2^t))"),
                 (lambda t: batch, f"computed with the batch size as the exponent, 1 − β^{batch}, instead of the step "
                                   f"count t"),
                 (lambda t: t + 1, "computed with t + 1 instead of t: the step counter is advanced twice or before "
                                   "it starts at 1"),
                 (lambda t: t - 1 if t > 1 else np.inf, "computed with t − 1 instead of t: the step counter is "
                                                       "advanced after the update")]
    for exponent, meaning in exponents:
        if _replay_matches(ev, spec, result.step, _corrected_as(spec, exponent)):
            return (f"your {spec.optimizer}'s bias corrections are {meaning}: your steps equal torch's with the "
                    f"corrections 1 − β1^e, 1 − β2^e so placed. Use the number of update_mini_batch calls so far, t = "
                    f"1, 2, ...")
    return None


def adam_eps_inside(result: CheckResult, ev: Evidence) -> str | None:
    """Adam's ε under the square root, m̂/√(v̂ + ε), read off the ratio of the steps at step 0, where m̂ = g and
    v̂ = g² in both: the candidate's Adam step / torch's is (|g| + ε)/√(g² + ε) entry by entry (≈ 1 where |g| ≫ √ε).
    AdamW's decoupled decay is set apart first, as torch's step minus torch's step with weight_decay 0."""
    spec = ev.spec
    coupled = spec.optimizer == "adam" and spec.hparams.get("weight_decay")  # g + wd·p inside m and v
    if spec.optimizer not in ("adam", "adamw") or result.step != 0 or coupled:
        return None
    eps = spec.hparams.get("eps", 1e-8)
    cand, ref = _deltas(ev, 0)
    undecayed = replay(ev, spec.replace(hparams={**spec.hparams, "weight_decay": 0.0}), 1)[0]
    adam = [a - b for a, b in zip(undecayed, _params_before(ev, 0))]
    predicted = [r - a + a * (np.abs(g) + eps) / np.sqrt(g * g + eps) for r, a, g in zip(ref, adam, ev.grads_torch[0])]
    if not _matches(cand, predicted, TOL["updates"]):
        return None
    return (f"your {spec.optimizer} puts ε inside the square root, m̂/√(v̂ + ε): your first step is torch's times "
            f"(|g| + ε)/√(g² + ε), which shrinks the steps of gradients below √ε = {_g(np.sqrt(eps))}. torch.optim."
            f"{'AdamW' if spec.optimizer == 'adamw' else 'Adam'} adds ε outside: m̂/(√v̂ + ε).")


def later_layers_only(result: CheckResult, ev: Evidence) -> str | None:
    """At step 0 the first layers' updates match torch's and every later layer's does not: position-dependent state."""
    if result.step != 0:
        return None
    cand, ref = _deltas(ev, 0)
    ok = [c.passed for c in _per_tensor("updates", cand, ref, TOL["updates"])]
    layers = [w and b for w, b in zip(layout.weights(ok), layout.biases(ok))]
    k = layers.index(False) if False in layers else 0
    if k == 0 or any(layers[k:]):
        return None
    state = ("the step counter t of the bias corrections" if ev.spec.optimizer in ("adam", "adamw")
             else "the momentum buffer" if ev.spec.optimizer == "sgd" else "the accumulator")
    return (f"at step 0 the updates of layer{'s' if k > 1 else ''} 0{f'–{k - 1}' if k > 1 else ''} match torch's and "
            f"every later layer's differ, though all gradients match: the update depends on the layer's position. "
            f"Look for state shared across your loop over layers that changes inside it, e.g. {state} advanced once "
            f"per layer instead of once per update_mini_batch call, or the learning rate changed in the loop.")


def update_factor(result: CheckResult, ev: Evidence) -> str | None:
    """Δp is one constant times torch's Δp (in every failing tensor)."""
    step = result.step
    cand, ref = _deltas(ev, step)
    checks = _per_tensor("updates", cand, ref, TOL["updates"])
    failing = [c for c in checks if not c.passed]
    ratios = [c.ratio for c in failing]
    if not failing or ratios[0] is None or not all(_near(r, ratios[0]) for r in ratios):
        return None
    r, batch = ratios[0], len(ev.batches[step].y)
    scope = "every parameter" if len(failing) == len(checks) else ", ".join(_label(c) for c in failing)
    if _near(r, -1.0):
        return (f"{scope} moved exactly as far as torch's but the other way at step {step} (the gradients match): the "
                f"update climbs the loss, p + lr·g instead of p − lr·g.")
    extra = " (1/B: the batch average is applied again in the update)" if _near(r, 1 / batch) else ""
    return (f"at step {step} {scope} moved exactly {_g(r)} × as far as torch's while the gradients match: the step "
            f"uses {_g(r)} × the learning rate{extra}; check how lr = {_g(ev.spec.lr)} enters the update.")


# --- the other checks --------------------------------------------------------------------------------------------

def dropout_masks(result: CheckResult, ev: Evidence) -> str | None:
    """The candidate's own masks: kept values not 1/(1−p), or a zeroed fraction of 1−p instead of p."""
    p = ev.spec.dropout
    if result.keep_value_wrong:
        return (f"your dropout masks keep units at a value other than 1/(1−p) = {_g(1 / (1 - p))}: the kept units are "
                f"not rescaled; inverted dropout multiplies by mask / (1 − p) in training.")
    rate = result.drop_rate
    if rate is not None and abs(rate - (1 - p)) < abs(rate - p):
        return (f"your dropout masks zero {rate:.4f} of the units, about 1−p, where p = {_g(p)} is the "
                f"probability of dropping a unit: keep a unit when rng.random() < 1 − p.")
    return None


def augment_border(result: CheckResult, ev: Evidence) -> str | None:
    """Augmented images that agree with torchvision inside and differ only where taps reach outside the image."""
    interior, border = result.interior_err, result.border_err
    if interior is None or interior > AUGMENT_TOL.rtol or not border:
        return None
    return ("your augmented images match torchvision's F.affine everywhere except at pixels whose bilinear taps fall "
            "outside the image: the fill convention differs; with fill=0 torchvision also multiplies by a sampled "
            "ones-mask, which darkens border pixels a second time.")


def finite_difference_mismatch(result: CheckResult, ev: Evidence) -> str | None:
    factor = f" (your gradient is {_g(result.ratio)} × the slope of your loss)" if result.ratio is not None else ""
    return (f"your gradients match torch's but not finite differences of your own loss{factor}: the loss you compute "
            f"is not the function your gradients differentiate; compare your loss formula with the lab's.")


def softmax_absorbed(result: CheckResult, ev: Evidence | None) -> str | None:
    """Finite outputs whose rows are not a distribution: a normaliser lost to rounding, not an overflow."""
    off = {case: err for case, err in result.row_sum_err.items() if err > TOL["softmax"].rtol}
    if not off or result.nonfinite_cases:
        return None
    return (f"your outputs are finite, but rows of the '{', '.join(off)}' inputs sum to 1 only within "
            f"{max(off.values()):.3g}: nothing overflows, the normaliser is lost to rounding. Next to a huge row max "
            f"m (1e300 in the 'huge' case), m + log Σ exp(z − m) rounds back to m, so exp(z − logsumexp(z)) gives 1 "
            f"for every tied maximum. Divide instead, e = exp(z − m); e / e.sum(), or exponentiate "
            f"(z − m) − log Σ exp(z − m), which never adds the small log to the huge max.")


def softmax_cases(result: CheckResult, ev: Evidence | None) -> str | None:
    failing = result.failing or ([str(Label(result.layer, result.param))] if result.param else [])
    if any(f"softmax({case})" in failing for case in ("large", "huge", "one-hot-ish", "negative")):
        return ("your softmax fails on inputs with large magnitude: exp overflows (or underflows to 0/0) in float64; "
                "subtract each row's max before exp, the shift cancels in the ratio.")
    return None


def step_measured(result: CheckResult, ev: Evidence) -> str:
    """What was measured about a step no family explains: which tensors moved, how far relative to torch's step
    (‖Δp‖ ratio), and whether earlier steps agreed (then the difference is in state carried between steps)."""
    step = result.step or 0
    cand, ref = _deltas(ev, step)
    sizes = [f"{lab} {float(np.linalg.norm(c) / np.linalg.norm(r)):.3g}×" for c, r, lab
             in zip(cand, ref, layout.labels(len(ref))) if np.any(r)]
    still = [str(lab) for c, r, lab in zip(cand, ref, layout.labels(len(ref))) if np.any(r) and not np.any(c)]
    state = (f"steps 0–{step - 1} agreed, so what differs is carried between steps (momentum, moments, "
             f"accumulators, a step counter)" if step else "the first step already differs, before any state is "
                                                          "carried: the rule itself differs")
    return (f"at step {step} your step's size relative to torch's (‖Δp‖ ratio) is " + ", ".join(sizes)
            + (f"; {', '.join(still)} did not move" if still else "") + f"; {state}.")


def optimizer_measured(result: CheckResult, ev: Evidence) -> str:
    """The `optimizer` check's fallback: measured on the candidate's own gradients."""
    return (f"your update on your own gradients differs from torch.optim's on the same gradients, first in "
            f"{_label(result)}: " + step_measured(result, ev))


def neutral(result: CheckResult, ev: Evidence | None) -> str:
    """What is known when no hypothesis fits: where the first difference is and what matched before it."""
    where, step = _label(result), result.step
    if result.name == "forward":
        return ("the outputs already differ at the initial parameters, before any training: the forward pass (layers, "
                "activations, output head) is where to look.")
    if result.name == "loss":
        return ("the outputs agree but the loss on the first batch doesn't: the loss formula is where to look"
                + (", or the training-mode forward with dropout." if ev is not None and ev.spec.dropout else "."))
    if result.name == "gradients" and not step:
        return (f"the first difference is in the gradient of {where} at step 0, before any update: the backward pass "
                f"is where to look, from the output error down to {where}.")
    if result.name == "gradients":
        return (f"gradients and parameters matched for steps 0–{step - 1}; at step {step} the gradient of {where} "
                f"differs, so the backward pass depends on something that changes between steps (state kept across "
                f"calls, a counter).")
    if result.name == "optimizer":
        return optimizer_measured(result, ev)
    if result.name == "updates":
        hint = f"the first difference is in {where} at step {step}; gradients matched, so the optimizer update is "
        hint += "where to look"
        if step:
            hint += f" (steps 0–{step - 1} agreed: look at what it carries between steps, e.g. momentum, accumulators)"
        return hint + (f". Measured: {step_measured(result, ev)}" if ev is not None and ev.batches else ".")
    if result.name == "curves":
        steps = f"all {len(ev.batches)} lockstep steps" if ev is not None and ev.batches else "every lockstep step"
        return (f"{steps} agreed (gradients and parameters), so the difference builds up later in training: look for "
                f"something that changes with the step or epoch (a schedule, state reset between epochs) or in how "
                f"the loss and accuracy are evaluated.")
    if result.name == "softmax":
        cases = ", ".join(result.failing) or "its inputs"
        return f"your softmax differs from torch.softmax on {cases}."
    if result.name == "augment_images":
        return ("your augmented images differ from torchvision's F.affine for the same angles and shifts, inside the "
                "image too: the geometry (rotation direction and centre, shift direction) is where to look.")
    return f"the first failing check is {result.name}: {result.message}"


UPDATE_HYPOTHESES: list[Hypothesis] = [unchanged_parameters, lagging_update, kingma_ba_adam, optimizer_variant,
                                       adam_bias_correction, adam_eps_inside, later_layers_only, update_factor]
HYPOTHESES: dict[str, list[Hypothesis]] = {
    "optimizer": UPDATE_HYPOTHESES,  # the same step, judged on the candidate's own gradients
    "forward": [softmax_overflow, other_architecture, dropout_scaled_at_eval, dropout_active_at_eval],
    "loss": [loss_factor, dropout_not_rescaled],
    "gradients": [gradient_shape, nonfinite_gradients, global_gradient_factor, l2_in_gradient, dropout_not_rescaled,
                  other_head_error, per_layer_factor, fan_factor,
                  transposed_values, confined_to_one_kind, below_output_only, output_layer_wrong],
    "updates": UPDATE_HYPOTHESES,
    "finite_differences": [finite_difference_mismatch],
    "dropout_statistics": [dropout_masks],
    "augment_images": [augment_border],
    "softmax": [softmax_absorbed, softmax_cases],
}
