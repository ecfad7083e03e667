"""diagnose(): each deliberately broken candidate fails where expected and gets the hint that names its slip.

Every candidate is the NumPy reference with one bug injected (a subclass of NumpySide); the bug code lives here, in
the tests, never in the harness. A correct formulation that differs from torch's only in form gets no hint.
"""

import dataclasses

import numpy as np
import pytest

import numpy_mlp
import numpy_mlp.augment
import numpy_mlp.functional
from crosscheck.checks import TOL, Evidence, Plan, run_checks
from crosscheck.diagnose import diagnose, replay
from crosscheck.diff import compare
from crosscheck.layout import labels as param_labels
from crosscheck.sides import NumpySide
from crosscheck.spec import MODELS, Spec
from numpy_mlp.optim import Optimizer, apply_updates

PLAN = Plan(steps=20)
B = 100


def first_failure(spec: Spec, data, candidate):
    results = run_checks(spec.replace(epochs=1), data, make_candidate=candidate, plan=PLAN, diagnose=diagnose)
    failed = [r for r in results if not r.passed]
    assert failed, "the buggy candidate passed every check"
    return failed[0]


def assert_hint(first, check, layer, param, *words, step=None):
    hint = first.hint or ""
    assert (first.name, first.layer, first.param) == (check, layer, param), (first.message, hint)
    if step is not None:
        assert first.step == step, (first.message, hint)
    for word in words:
        assert word.lower() in hint.lower(), f"{word!r} not in hint: {hint!r} ({first.message})"


# --- candidates --------------------------------------------------------------------------------------------------

def reported_grads(transform, reported_only=False):
    """A candidate whose gradients go through transform(self, grads, batch); its update uses them too, unless the
    bug is in the reported gradient only (shape bugs: the update would not even broadcast)."""

    class Candidate(NumpySide):
        def loss_and_grads(self, batch):
            loss, grads = super().loss_and_grads(batch)
            return loss, transform(self, list(grads), batch)

        def step(self, batch):
            if not reported_only:
                return super().step(batch)
            loss, grads = NumpySide.loss_and_grads(self, batch)
            updates, self.state = self.optimizer.update(grads, self.state, self._params)
            self._params = apply_updates(self._params, updates)
            return loss

    return Candidate


def every(factor):
    return lambda self, grads, batch: [g * factor for g in grads]


def only(index, fn):
    return lambda self, grads, batch: [fn(g, self) if i == index else g for i, g in enumerate(grads)]


def biases(fn):
    return lambda self, grads, batch: [fn(g) if i % 2 else g for i, g in enumerate(grads)]


def configured(**changes):
    """The reference configured differently from the spec it is checked against (e.g. another torch option)."""

    class Candidate(NumpySide):
        def __init__(self, spec, init):
            super().__init__(spec.replace(**changes), init)

    return Candidate


def with_hparams(**hp):
    class Candidate(NumpySide):
        def __init__(self, spec, init):
            super().__init__(spec.replace(hparams={**spec.hparams, **hp}), init)

    return Candidate


def without_hparam(name):
    class Candidate(NumpySide):
        def __init__(self, spec, init):
            super().__init__(spec.replace(hparams={k: v for k, v in spec.hparams.items() if k != name}), init)

    return Candidate


def with_optimizer(make):
    """A candidate with its own update rule, make(spec) -> Optimizer (hand-written here, as a student would)."""

    class Candidate(NumpySide):
        def __init__(self, spec, init):
            super().__init__(spec, init)
            self.optimizer = make(spec)
            self.state = self.optimizer.init(self._params)

    return Candidate


def _weight_decays(spec, n):
    wd = spec.hparams.get("weight_decay", 0.0)
    return [wd if i % 2 == 0 or spec.decay_biases else 0.0 for i in range(n)]


def velocity_momentum(spec):
    """The course's v = μv − ηg; w += v (v₀ = 0): equal to torch's SGD momentum at a constant lr."""
    mu = spec.hparams["momentum"]

    def init(params):
        return _weight_decays(spec, len(params)), [np.zeros_like(p) for p in params]

    def update(grads, state, params):
        decays, vs = state
        vs = [mu * v - spec.lr * (g + wd * p) for g, p, v, wd in zip(grads, params, vs, decays)]
        return vs, (decays, vs)

    return Optimizer(init, update)


def ema_momentum_from_zero(spec):
    """v = μv + (1 − μ)g with v₀ = 0: an EMA, not the lab's momentum."""
    mu = spec.hparams["momentum"]

    def init(params):
        return _weight_decays(spec, len(params)), [np.zeros_like(p) for p in params]

    def update(grads, state, params):
        decays, vs = state
        vs = [mu * v + (1 - mu) * (g + wd * p) for g, p, v, wd in zip(grads, params, vs, decays)]
        return [-spec.lr * v for v in vs], (decays, vs)

    return Optimizer(init, update)


def adam_without_bias_correction(spec):
    b1, b2 = spec.hparams["betas"]
    eps = spec.hparams["eps"]

    def init(params):
        return [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]

    def update(grads, state, params):
        ms = [b1 * m + (1 - b1) * g for m, g in zip(state[0], grads)]
        vs = [b2 * v + (1 - b2) * g * g for v, g in zip(state[1], grads)]
        return [-spec.lr * m / (np.sqrt(v) + eps) for m, v in zip(ms, vs)], (ms, vs)

    return Optimizer(init, update)


def adamw_counter_per_layer(spec):
    """AdamW whose step counter t is advanced inside the loop over layers (layer l sees t = l + 1 at step 0)."""
    b1, b2 = spec.hparams["betas"]
    eps, wd = spec.hparams["eps"], spec.hparams["weight_decay"]

    def init(params):
        return 0, [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]

    def update(grads, state, params):
        t, ms, vs = state
        updates = []
        for i, (g, p) in enumerate(zip(grads, params)):
            t += i % 2 == 0  # once per layer, at its weight
            ms[i] = b1 * ms[i] + (1 - b1) * g
            vs[i] = b2 * vs[i] + (1 - b2) * g * g
            m_hat, v_hat = ms[i] / (1 - b1**t), vs[i] / (1 - b2**t)
            updates.append(-spec.lr * wd * p - spec.lr * m_hat / (np.sqrt(v_hat) + eps))
        return updates, (t, ms, vs)

    return Optimizer(init, update)


class EditedUpdates(NumpySide):
    """The reference's update, then edit(updates, t) before it is applied (t = this side's step counter)."""

    t = 0

    def edit(self, updates, params):
        return updates

    def step(self, batch):
        loss, grads = self.loss_and_grads(batch)
        updates, self.state = self.optimizer.update(grads, self.state, self._params)
        self._params = apply_updates(self._params, self.edit(updates, self._params))
        self.t += 1
        return loss


class FrozenBiases(EditedUpdates):
    def edit(self, updates, params):
        return [u if i % 2 == 0 else np.zeros_like(u) for i, u in enumerate(updates)]


class LaggingUpdate(EditedUpdates):
    pending = None

    def edit(self, updates, params):
        applied = self.pending if self.pending is not None else [np.zeros_like(u) for u in updates]
        self.pending = updates
        return applied


class StaleGradient(NumpySide):
    """From the second step on, the update uses the previous batch's gradient."""

    previous = None

    def step(self, batch):
        loss, grads = self.loss_and_grads(batch)
        use, self.previous = (grads if self.previous is None else self.previous), grads
        updates, self.state = self.optimizer.update(use, self.state, self._params)
        self._params = apply_updates(self._params, updates)
        return loss


class LearningRateDropsAfter25Steps(EditedUpdates):
    def edit(self, updates, params):
        return [u * 0.5 for u in updates] if self.t >= 25 else updates


class NudgeAtStep3(EditedUpdates):
    def edit(self, updates, params):
        return [u + 1e-6 if (i == 2 and self.t == 3) else u for i, u in enumerate(updates)]


class GradientAscent(EditedUpdates):
    """p + lr·g: the update's sign flipped (numpy_mlp refuses a negative lr itself, as torch.optim does)."""

    def edit(self, updates, params):
        return [-u for u in updates]


class SigmoidPrimeOfActivation(NumpySide):
    """sigmoid_prime(a) instead of sigmoid_prime(z): backward's a(1 − a) is fed σ(a) in place of a."""

    def loss_and_grads(self, batch):
        cache = self.mlp.forward(self._params, self.inputs(batch), batch.masks)
        cache.hidden = [numpy_mlp.sigmoid(h) for h in cache.hidden]
        return self.mlp.loss(cache, batch.y), self.mlp.backward(self._params, cache, batch.y)


class NoHiddenDerivative(NumpySide):
    """delta @ W.T carried down without the activation derivative."""

    def __init__(self, spec, init):
        super().__init__(spec, init)
        self.mlp = dataclasses.replace(self.mlp, hidden_activation="sigmoid-no-derivative")


class HiddenSoftmax(NumpySide):
    def predict(self, x):
        a, p = x, self._params
        for layer in range(len(p) // 2 - 1):
            a = numpy_mlp.softmax(a @ p[2 * layer] + p[2 * layer + 1])
        return numpy_mlp.softmax(a @ p[-2] + p[-1])


class UnstableSoftmax(NumpySide):
    def predict(self, x):
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(self.mlp.forward(self._params, x).logits)
            return e / e.sum(axis=1, keepdims=True)


class UnscaledDropout(NumpySide):
    """Keep-masks of 0/1: dropped units zeroed, kept ones not rescaled by 1/(1 − p)."""

    report_loss = True

    def loss_and_grads(self, batch):
        masks = [(m != 0).astype(np.float64) for m in batch.masks]
        loss, grads = self.mlp.loss_and_grads(self._params, self.inputs(batch), batch.y, masks)
        return (loss if self.report_loss else None), grads


class UnscaledDropoutNoLoss(UnscaledDropout):
    report_loss = False


class ClassicDropout(UnscaledDropout):
    """Unscaled masks in training, activations × (1 − p) at evaluation."""

    def predict(self, x):
        keep = 1 - self.spec.dropout
        return self.mlp.forward(self._params, x, [np.full((len(x), n), keep) for n in self.spec.layers[1:-1]]).out


class DropoutAtEvaluation(NumpySide):
    rng = np.random.default_rng(1)

    def predict(self, x):
        return self.mlp.forward(self._params, x, self.mlp.dropout_masks(self.rng, len(x))).out


# --- forward -----------------------------------------------------------------------------------------------------

def test_sigmoid_head_where_the_preset_is_softmax(data):
    first = first_failure(MODELS["l2-momentum"], data, configured(head="mse"))
    assert_hint(first, "forward", None, "output", "ends in sigmoid + MSE", "softmax + cross-entropy",
                "--head mse to check your optimizer")


def test_softmax_head_where_the_preset_is_sigmoid(data):
    first = first_failure(MODELS["base"], data, configured(head="ce"))
    assert_hint(first, "forward", None, "output", "ends in softmax + cross-entropy", "--head ce")


def test_softmax_in_hidden_layers(data):
    first = first_failure(MODELS["softmax-ce"], data, HiddenSoftmax)
    assert_hint(first, "forward", None, "output", "nn.Softmax as the hidden activation", "only at the output")


def test_unstable_softmax_overflows_on_large_logits(data):
    big = dataclasses.replace(data, x_train=data.x_train * 50, x_test=data.x_test * 50)
    first = first_failure(MODELS["softmax-ce"].replace(hidden_activation="relu"), big, UnstableSoftmax)
    assert_hint(first, "forward", None, "output", "NaN", "overflow", "row's max")


# --- loss and gradients ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model, candidate, where, words", [
    ("softmax-ce", reported_grads(every(B)), (1, "bias"), ["batch size", "summed"]),
    ("softmax-ce", reported_grads(every(1 / B)), (1, "bias"), ["twice"]),
    ("softmax-ce", reported_grads(every(-1.0)), (1, "bias"), ["sign", "p − y"]),
    ("base", reported_grads(every(-1.0)), (1, "bias"), ["sign", "a − y, not y − a"]),
    ("base", reported_grads(every(2.0)), (1, "bias"), ["1/2"]),
    ("softmax-ce", reported_grads(only(2, lambda g, s: g / s.spec.layers[1])), (1, "weight"), ["fan-in", "(30)"]),
    ("softmax-ce", reported_grads(biases(lambda g: g / B)), (1, "bias"), ["bias", "axis=0"]),
    ("softmax-ce", reported_grads(biases(lambda g: np.repeat(g[None] / B, B, axis=0)), reported_only=True),
     (0, "bias"), ["one row per sample", "axis=0"]),
    ("square", reported_grads(only(2, lambda g, s: g.T)), (1, "weight"), ["transposed", "layer_input.T @ delta"]),
    ("softmax-ce", reported_grads(lambda self, grads, batch: [g if i % 2 else 2 * g for i, g in enumerate(grads)]),
     (1, "weight"), ["only the weight gradients differ", "layer_input.T @ delta"]),
    ("softmax-ce", SigmoidPrimeOfActivation, (0, "bias"), ["output layer's gradients match", "derivative",
                                                           "pre-activation"]),
    ("softmax-ce", NoHiddenDerivative, (0, "bias"), ["output layer's gradients match", "derivative"]),
], ids=["summed", "averaged-twice", "sign-ce", "sign-mse", "mse-no-half", "fan-in", "bias-mean", "bias-per-sample",
        "transposed", "weights-only", "sigmoid-prime-of-a", "no-derivative"])
def test_gradient_bugs(model, candidate, where, words, data, monkeypatch):
    monkeypatch.setitem(numpy_mlp.functional.ACTIVATIONS, "sigmoid-no-derivative",
                        (numpy_mlp.sigmoid, lambda a: np.ones_like(a)))
    spec = MODELS["softmax-ce"].replace(layers=(784, 30, 30, 10)) if model == "square" else MODELS[model]
    first = first_failure(spec, data, candidate)
    assert_hint(first, "gradients", *where, *words, step=0)


def test_loss_summed_instead_of_averaged(data):
    class SummedLoss(NumpySide):
        def loss_and_grads(self, batch):
            loss, grads = super().loss_and_grads(batch)
            return loss * len(batch.y), grads

    first = first_failure(MODELS["base"], data, SummedLoss)
    assert_hint(first, "loss", None, "loss", "summed over the batch")


# --- dropout -----------------------------------------------------------------------------------------------------

def test_dropout_not_rescaled_shows_in_the_loss(data):
    first = first_failure(MODELS["dropout"], data, UnscaledDropout)
    assert_hint(first, "loss", None, "loss", "not rescaled by 1/(1−p)", "inverted dropout")


def test_dropout_not_rescaled_shows_in_the_gradients_without_a_loss(data):
    first = first_failure(MODELS["dropout"], data, UnscaledDropoutNoLoss)
    assert_hint(first, "gradients", 1, "bias", "not rescaled by 1/(1−p)")


def test_dropout_scaled_at_evaluation_instead_of_training(data):
    first = first_failure(MODELS["dropout"], data, ClassicDropout)
    assert_hint(first, "forward", None, "output", "scale at evaluation", "inverted dropout")


def test_dropout_active_at_evaluation(data):
    first = first_failure(MODELS["dropout"], data, DropoutAtEvaluation)
    assert_hint(first, "forward", None, "output", "active at evaluation", "model.eval()")


class UnscaledMasks(NumpySide):
    def dropout_masks(self, rng, batch):
        return [(rng.random((batch, n)) < 1 - self.spec.dropout).astype(np.float64) for n in self.spec.layers[1:-1]]


class SwappedMasks(NumpySide):
    def dropout_masks(self, rng, batch):
        keep = 1 - self.spec.dropout
        return [(rng.random((batch, n)) < self.spec.dropout) / keep for n in self.spec.layers[1:-1]]


@pytest.mark.parametrize("candidate, words", [(UnscaledMasks, ["not rescaled", "mask / (1 − p)"]),
                                              (SwappedMasks, ["about 1−p", "rng.random() < 1 − p"])])
def test_own_dropout_masks(candidate, words, data):
    first = first_failure(MODELS["dropout"], data, candidate)
    assert_hint(first, "dropout_statistics", None, "mask", *words)


# --- the candidate's own softmax and augmentation ------------------------------------------------------------------

def test_unstable_softmax_method(data):
    class Unstable(NumpySide):
        def softmax(self, z):
            return np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True)

    first = first_failure(MODELS["softmax-ce"], data, Unstable)
    assert first.name == "softmax" and "row's max" in first.hint, first.hint


def test_augmentation_without_torchvisions_fill_mask(data):
    class NoFillMask(NumpySide):
        def inputs(self, batch):
            out = super().inputs(batch)
            if batch.angles is None:
                return out
            mask = numpy_mlp.augment.affine(np.ones_like(batch.x), batch.angles, batch.shifts)
            return np.divide(out, mask, out=np.zeros_like(out), where=mask > 0)

    first = first_failure(MODELS["augment"], data, NoFillMask)
    assert_hint(first, "augment_images", None, "image", "except at pixels", "ones-mask")


# --- optimizer updates (gradients match, the parameters after a step don't) -------------------------------------
# Steps are compared as Δp relative to torch's step, and a failure is placed on the failing tensor nearest the output
# (a wrong rule moves every tensor; relative to the step, the "worst" entry is a near-zero step and says nothing).

L2_NO_MOMENTUM = MODELS["l2-momentum"].replace(hparams=dict(weight_decay=1e-3))
ADAM_L2 = MODELS["adam"].replace(hparams={**MODELS["adam"].hparams, "weight_decay": 1e-2})


@pytest.mark.parametrize("spec, candidate, where, words", [
    (MODELS["l2-momentum"], configured(decay_biases=True), (1, "bias", 0), ["applied to the biases too"]),
    (MODELS["adamw"], configured(decay_biases=False), (1, "bias", 0), ["missing on the biases"]),
    (MODELS["l2-momentum"], without_hparam("weight_decay"), (1, "weight", 0), ["no weight decay"]),
    (L2_NO_MOMENTUM, with_hparams(weight_decay=1e-2), (1, "weight", 0),
     ["not scaled by the learning rate", "momentum is 0"]),
    (MODELS["l2-momentum"], with_hparams(weight_decay=1e-2), (1, "weight", 0),
     ["not scaled by the learning rate", "matched at step 0 only"]),
    (MODELS["adagrad"], configured(optimizer="adagrad-lab"), (1, "bias", 0),
     ["inside the square root", "initial_accumulator_value=ε"]),
    (MODELS["adagrad-lab"], configured(optimizer="adagrad"), (1, "bias", 0), ["outside the square root"]),
    (MODELS["adamw"], configured(optimizer="adam"), (1, "bias", 0), ["Adam-style L2", "decoupled"]),
    (ADAM_L2, configured(optimizer="adamw"), (1, "weight", 0), ["AdamW's decoupled", "added to the gradient"]),
    (MODELS["nesterov"], with_hparams(nesterov=False), (1, "bias", 0), ["Nesterov momentum is missing"]),
    (MODELS["l2-momentum"], with_hparams(nesterov=True), (1, "bias", 0), ["Nesterov momentum is used"]),
    (MODELS["l2-momentum"], with_hparams(dampening=0.9), (1, "bias", 1), ["EMA", "dampening"]),
    (MODELS["l2-momentum"], with_optimizer(ema_momentum_from_zero), (1, "bias", 0), ["EMA", "(1 − μ)"]),
    (MODELS["l2-momentum"], without_hparam("momentum"), (1, "bias", 1), ["momentum is missing"]),
    (MODELS["adam"], with_optimizer(adam_without_bias_correction), (1, "bias", 0),
     ["both bias corrections", "3.162"]),
    (MODELS["softmax-ce"], LaggingUpdate, (1, "bias", 0), ["no parameter changed", "one step late"]),
    (MODELS["softmax-ce"], StaleGradient, (1, "bias", 1), ["at step 1 is exactly torch's update of step 0", "lags"]),
    (MODELS["l2-momentum"], FrozenBiases, (1, "bias", 0), ["biases[0], biases[1] did not change"]),
    (MODELS["softmax-ce"], configured(lr=0.05), (1, "bias", 0), ["0.5 ×", "learning rate"]),
    (MODELS["softmax-ce"], GradientAscent, (1, "bias", 0), ["the other way", "p + lr·g"]),
    (MODELS["l2-momentum"], with_hparams(weight_decay=1e-5), (1, "weight", 0), ["divided by the batch size"]),
    (MODELS["adamw"], with_optimizer(adamw_counter_per_layer), (1, "bias", 0),
     ["layer 0 match", "step counter t", "once per layer"]),
    (MODELS["softmax-ce"], NudgeAtStep3, (1, "weight", 3),
     ["weights[1] at step 3", "gradients matched, so the optimizer update is where to look"]),
], ids=["l2-on-biases", "adamw-biases-undecayed", "no-l2", "l2-without-lr", "l2-without-lr-momentum",
        "adagrad-eps-inside", "adagrad-eps-outside", "adamw-as-adam-l2", "adam-l2-as-adamw", "nesterov-missing",
        "nesterov-extra", "ema-dampening", "ema-from-zero", "momentum-missing", "adam-no-bias-correction", "lagging",
        "stale-gradient",
        "frozen-biases", "half-lr", "ascent", "l2-over-batch", "adam-t-per-layer", "neutral"])
def test_optimizer_bugs(spec, candidate, where, words, data):
    first = first_failure(spec, data, candidate)
    layer, param, step = where
    assert_hint(first, "updates", layer, param, *words, step=step)


def test_a_difference_after_the_lockstep_steps_points_at_later_training(data):
    first = first_failure(MODELS["softmax-ce"], data, LearningRateDropsAfter25Steps)
    assert_hint(first, "curves", None, "accuracy", "all 20 lockstep steps agreed", "later in training")


# --- what must not get a hint --------------------------------------------------------------------------------------

def test_velocity_form_momentum_is_torchs_and_gets_no_hint(data):
    results = run_checks(MODELS["l2-momentum"].replace(epochs=1), data, with_optimizer(velocity_momentum), PLAN,
                         diagnose=diagnose)
    assert all(r.passed for r in results), [(r.name, r.message) for r in results if not r.passed]
    assert not any(r.hint for r in results)


def test_replay_of_the_spec_itself_is_torchs_recorded_trajectory(data):
    """The optimizer hypotheses stand on this: replaying the unchanged spec reproduces torch's lockstep params."""
    captured = []

    def keep(result, evidence):
        captured.append(evidence)
        return None

    spec = MODELS["dropout"].replace(epochs=1)
    run_checks(spec, data, make_candidate=configured(lr=0.05), plan=PLAN, diagnose=keep)
    (evidence,) = captured
    assert isinstance(evidence, Evidence) and len(evidence.batches) == 1
    for got, want in zip(replay(evidence, spec, 1), evidence.params_torch):
        assert compare("replay", got, want, param_labels(len(want)), TOL["updates"]).passed


def test_eps_placement_says_what_this_adagrad_does(data):
    """The informational row measures the candidate: the lab's rule gets "inside the square root", torch's not."""
    spec = MODELS["adagrad-lab"].replace(epochs=1)
    lab = run_checks(spec, data, NumpySide, PLAN)
    assert "because eps sits inside the square root" in lab[-1].message
    outside = run_checks(spec, data, configured(optimizer="adagrad"), PLAN)
    assert lab[-1].name == outside[-1].name == "eps_placement"
    assert "does not follow the lab's rule" in outside[-1].message


# where: the tensor nearest the output that the added term touches (gradients are localised from the output down)
@pytest.mark.parametrize("spec, factors, where, words", [
    (MODELS["l2-momentum"], (1e-3, 1e-3), (1, "bias"), ["bias gradients as well", "weights only"]),
    (MODELS["l2-momentum"], (2e-3, 0.0), (1, "weight"), ["2·l2·w = 0.002·w", "not 2·l2·w"]),
    (MODELS["adamw"], (1e-2, 0.0), (1, "weight"), ["Adam's L2", "decoupled"]),
    (MODELS["softmax-ce"], (1e-3, 0.0), (1, "weight"), ["plus 0.001·w", "no L2 term"]),
], ids=["biases-too", "twice", "adamw-coupled", "no-l2-preset"])
def test_an_l2_term_in_backprop_is_named(spec, factors, where, words, data):
    weight, bias = factors
    first = first_failure(spec, data, reported_grads(lambda self, grads, batch: [
        g + (bias if i % 2 else weight) * p for i, (g, p) in enumerate(zip(grads, self._params))]))
    assert_hint(first, "gradients", *where, *words, step=0)


def test_an_l2_term_that_appears_after_the_first_step_is_named(data):
    start = []

    def later(self, grads, batch):  # l2·w added once the parameters have left their initial values
        start.append(start[0] if start else self._params[0].copy())
        moved = not np.array_equal(self._params[0], start[0])
        wd = self.spec.hparams["weight_decay"]
        return [g + wd * p if moved and i % 2 == 0 else g for i, (g, p) in enumerate(zip(grads, self._params))]

    first = first_failure(MODELS["l2-momentum"], data, reported_grads(later))
    assert_hint(first, "gradients", 1, "weight", "l2·w = 0.001·w at step 1", "which the first backprop did not",
                step=1)
