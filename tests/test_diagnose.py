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
from crosscheck.report import Report
from crosscheck.sides import NumpySide
from crosscheck.spec import MODELS, Spec
from tests.candidates import (B, ClassicDropout, DropoutAtEvaluation, FrozenBiases, GradientAscent, HiddenSoftmax,
                              LaggingUpdate, LearningRateDropsAfter25Steps, LogSumExpSoftmax, NoHiddenDerivative,
                              NudgeAtStep3, SigmoidPrimeOfActivation, StaleGradient, UnscaledDropout,
                              UnscaledDropoutNoLoss, UnstableSoftmax, adam_rule, adam_without_bias_correction,
                              adamw_counter_per_layer, biases, configured, ema_momentum_from_zero, every,
                              kingma_ba_adam, nielsen_l2, only, per_layer_fan_in, reported_grads, respecified,
                              velocity_momentum, with_hparams, with_optimizer, without_hparam)

PLAN = Plan(steps=20)


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


# --- every bug named: the optimizer judged on the candidate's own gradients -----------------------------------------

def failures(spec: Spec, data, candidate) -> dict:
    results = run_checks(spec.replace(epochs=1), data, make_candidate=candidate, plan=PLAN, diagnose=diagnose)
    return {r.name: r for r in results if not r.passed}


def test_the_report_shows_both_bugs(data):
    class TwoBugs(reported_grads(every(1 / B)), without_hparam("momentum")):
        pass

    spec = MODELS["l2-momentum"].replace(epochs=1)
    text = str(Report("2", {spec.name: run_checks(spec, data, TwoBugs, PLAN, diagnose=diagnose)}))
    assert "first divergence: model l2-momentum, check 'gradients'" in text and "taken twice" in text
    assert "and in the optimizer: model l2-momentum, check 'optimizer', step 1" in text
    assert "Momentum is missing" in text


@pytest.mark.parametrize("spec, optimizer_slip, where, words", [
    (MODELS["l2-momentum"], without_hparam("momentum"), (1, "bias", 1), ["momentum is missing"]),
    (MODELS["adagrad"], configured(optimizer="adagrad-lab"), (1, "bias", 0), ["inside the square root"]),
    (MODELS["softmax-ce"], GradientAscent, (1, "bias", 0), ["the other way"]),
], ids=["momentum-missing", "adagrad-eps-inside", "ascent"])
def test_a_wrong_gradient_and_a_wrong_optimizer_are_both_named(spec, optimizer_slip, where, words, data):
    class TwoBugs(reported_grads(every(1 / B)), optimizer_slip):
        pass

    failed = failures(spec, data, TwoBugs)
    assert_hint(failed["gradients"], "gradients", 1, "bias", "twice", step=0)
    assert_hint(failed["optimizer"], "optimizer", *where[:2], *words, step=where[2])
    assert failed["gradients"].kind == failed["optimizer"].kind == "bug"
    assert "not compared" in failed["updates"].message


def test_a_right_optimizer_on_wrong_gradients_passes_the_optimizer_check(data):
    results = run_checks(MODELS["adam"].replace(epochs=1), data, reported_grads(every(2.0)), PLAN, diagnose=diagnose)
    (optimizer,) = [r for r in results if r.name == "optimizer"]
    assert optimizer.passed and "only the gradients differ" in optimizer.message
    assert [r.name for r in results] == ["softmax", "forward", "loss", "gradients", "finite_differences", "updates",
                                         "optimizer", "curves"]


def test_no_optimizer_row_when_the_updates_were_compared(data):
    names = [r.name for r in run_checks(MODELS["softmax-ce"].replace(epochs=1), data, GradientAscent, PLAN)]
    assert "optimizer" not in names


def test_an_update_that_bypasses_its_own_backprop_is_said_and_not_judged(data):
    """The reported gradient is 2x, the update uses the reference's own: the optimizer cannot be judged on it."""
    failed = failures(MODELS["l2-momentum"], data, reported_grads(every(2.0), reported_only=True))
    row = failed["optimizer"]
    assert row.informational and row.verdict == "INFO" and row.hint is None
    assert "does not go through your own backprop" in row.message and "torch's gradients" in row.message


# --- conventions: legitimate, not torch's; FAIL, with kind "convention" ---------------------------------------------

EMA_LR = MODELS["l2-momentum"].replace(lr=0.05)  # at lr = 1 − μ (the preset's 0.1) an EMA is lr applied twice


def test_an_ema_at_lr_one_minus_mu_is_not_called_a_convention(data):
    """lr·(1 − μ) = lr² there: "lr applied twice" takes the same steps, so both are named and no convention claimed."""
    first = first_failure(MODELS["l2-momentum"], data, with_optimizer(ema_momentum_from_zero))
    assert_hint(first, "updates", 1, "bias", "is lr applied twice", "EMA", "rerun with another learning rate")
    assert first.kind == "bug"


@pytest.mark.parametrize("spec, candidate, where, words", [
    (EMA_LR, with_optimizer(ema_momentum_from_zero), ("updates", 1, "bias"),
     ["EMA", "equivalent to torch's SGD(momentum=μ) with lr × (1 − μ) = 0.005"]),
    (MODELS["l2-momentum"], with_hparams(dampening=0.9), ("updates", 1, "bias"),
     ["EMA", "equivalent to torch's SGD with dampening = μ = 0.9"]),
    (MODELS["dropout"], ClassicDropout, ("forward", None, "output"),
     ["'classic' dropout", "equivalent to torch's inverted nn.Dropout with every weight after a dropout layer"]),
    (MODELS["adam"], with_optimizer(kingma_ba_adam), ("updates", 1, "bias"),
     ["Kingma & Ba", "equivalent to torch's Adam with a per-step ε_t = ε/√(1 − β2^t)"]),
    (MODELS["adamw"], with_optimizer(kingma_ba_adam), ("updates", 1, "bias"), ["Kingma & Ba", "per-step ε_t"]),
    (MODELS["l2-momentum"], "nielsen", ("updates", 1, "weight"),
     ["Nielsen's λ/n with n = 4000", "equivalent to torch's weight_decay = λ/n = 2.5e-07"]),
], ids=["ema-from-zero", "ema-dampening", "classic-dropout", "kingma-ba-adam", "kingma-ba-adamw", "nielsen-l2"])
def test_conventions_are_named_as_such(spec, candidate, where, words, data):
    candidate = respecified(nielsen_l2(len(data.x_train))) if candidate == "nielsen" else candidate
    first = first_failure(spec, data, candidate)
    assert_hint(first, *where, *words)
    assert first.kind == "convention"


def test_the_json_report_carries_kind(data):
    first = first_failure(EMA_LR, data, with_optimizer(ema_momentum_from_zero))
    passed = run_checks(MODELS["softmax-ce"].replace(epochs=1), data, NumpySide, PLAN, diagnose=diagnose)
    entries = Report("1", {"a": [first], "b": passed}).to_dict()["checks"]
    assert [e["kind"] for e in entries] == ["convention"] + [None] * len(passed)


# --- families named by ratios and per-step replays ------------------------------------------------------------------

@pytest.mark.parametrize("spec, candidate, where, words", [
    (MODELS["softmax-ce"], reported_grads(per_layer_fan_in), ("gradients", 1, "bias"),
     ["layer 0: 0.1276, layer 1: 3.333", "B/fan-in", "instead of the batch size"]),
    (MODELS["softmax-ce"], reported_grads(lambda self, grads, batch: [g * (1 + i // 2) for i, g in enumerate(grads)]),
     ("gradients", 1, "bias"), ["a different one per layer (layer 0: 1, layer 1: 2)", "enters per layer"]),
    (MODELS["l2-momentum"], with_hparams(weight_decay=2e-3), ("updates", 1, "weight"), ["doubled", "2·wd = 0.002"]),
    (MODELS["adam"], with_optimizer(adam_rule(eps_inside=True)), ("updates", 1, "bias"),
     ["ε inside the square root", "torch.optim.Adam adds ε outside"]),
    (MODELS["adamw"], with_optimizer(adam_rule(eps_inside=True)), ("updates", 1, "bias"),
     ["ε inside the square root", "torch.optim.AdamW"]),
    (MODELS["adam"], with_optimizer(adam_rule(exponent=lambda t: B)), ("updates", 1, "bias"),
     ["batch size as the exponent, 1 − β^100"]),
    (MODELS["adamw"], with_optimizer(adam_rule(exponent=lambda t: t + 1)), ("updates", 1, "bias"), ["t + 1"]),
    (MODELS["adam"], with_optimizer(adam_rule(exponent=lambda t: None)), ("updates", 1, "bias"),
     ["both bias corrections are missing"]),
], ids=["per-layer-fan-in", "per-layer-other", "l2-doubled", "adam-eps-inside", "adamw-eps-inside",
        "adam-correction-batch", "adamw-correction-t-plus-1", "adam-no-correction"])
def test_more_families(spec, candidate, where, words, data):
    first = first_failure(spec, data, candidate)
    assert_hint(first, *where, *words, step=0)
    assert first.kind == "bug"


@pytest.mark.parametrize("spec, candidate", [
    (MODELS["adam"], with_optimizer(adam_rule(efficient_eps=lambda eps, bc2: eps * bc2**0.5))),
    (MODELS["adamw"], with_optimizer(adam_rule())),
    (MODELS["softmax-ce"], LogSumExpSoftmax),
], ids=["adam-efficient-exact", "adamw-hand-written", "log-sum-exp-softmax"])
def test_correct_look_alikes_pass(spec, candidate, data):
    results = run_checks(spec.replace(epochs=1), data, candidate, PLAN, diagnose=diagnose)
    assert all(r.passed for r in results), [(r.name, r.message, r.hint) for r in results if not r.passed]


def test_an_unexplained_step_says_what_was_measured(data):
    first = first_failure(MODELS["softmax-ce"], data, NudgeAtStep3)
    assert_hint(first, "updates", 1, "weight", "measured", "weights[1] 1", "steps 0–2 agreed", step=3)
