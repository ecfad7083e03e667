"""Tasks 3 and 4: every optimizer, dropout mode, augmentation and the deep preset pass in float64 lockstep, and a
broken variant of each is caught and localised."""

import numpy as np
import pytest

import numpy_mlp
from crosscheck.checks import Plan, run_checks
from crosscheck.sides import NumpySide
from crosscheck.spec import MODELS, preset

QUICK = Plan(steps=50, fd_coords=2)  # >= 50 steps: bias correction and accumulators must matter


def _first_failure(results):
    return next((r for r in results if not r.passed), None)


@pytest.mark.parametrize("spec", preset("3") + [s for s in preset("4") if s.name in ("adamw", "dropout", "augment")],
                         ids=lambda s: f"{s.name}-{len(s.layers) - 1}layers")
def test_task3_and_deep_presets_pass(spec, each_data):
    results = run_checks(spec.replace(epochs=2), each_data, plan=QUICK)
    assert _first_failure(results) is None, _first_failure(results)
    updates = next(r for r in results if r.name == "updates")
    assert updates.step == QUICK.steps - 1


def _with_optimizer(optimizer_factory):
    """A NumPy side whose optimizer is replaced by a hand-made broken one (test code may hand-write anything)."""

    class Broken(NumpySide):
        def __init__(self, spec, init):
            super().__init__(spec, init)
            self.optimizer = optimizer_factory(spec)
            self.state = self.optimizer.init(self._params)

    return Broken


def _adamw_without_bias_correction(spec):
    beta1, beta2 = spec.hparams["betas"]
    lr, eps, wd = spec.lr, spec.hparams["eps"], spec.hparams["weight_decay"]

    def init(params):
        return [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]

    def update(grads, state, params):
        ms = [beta1 * m + (1 - beta1) * g for m, g in zip(state[0], grads)]
        vs = [beta2 * v + (1 - beta2) * g * g for v, g in zip(state[1], grads)]
        return [-lr * wd * p - lr * m / (np.sqrt(v) + eps) for p, m, v in zip(params, ms, vs)], (ms, vs)

    return numpy_mlp.Optimizer(init, update)


def test_missing_bias_correction_is_caught_at_step_0(data):
    results = run_checks(MODELS["adamw"].replace(epochs=1), data, _with_optimizer(_adamw_without_bias_correction),
                         QUICK)
    first = _first_failure(results)
    assert (first.name, first.step) == ("updates", 0)


def test_eps_inside_the_root_is_caught_against_torch_adagrad(data):
    lab_rule = _with_optimizer(lambda spec: numpy_mlp.optim.adagrad_lab(spec.lr, eps=1e-10))
    first = _first_failure(run_checks(MODELS["adagrad"].replace(epochs=1), data, lab_rule, QUICK))
    assert (first.name, first.step) == ("updates", 0)


def test_lab_adagrad_divergence_is_measured_and_explained(data):
    results = run_checks(MODELS["adagrad-lab"].replace(epochs=1), data, plan=QUICK)
    assert _first_failure(results) is None
    eps = next(r for r in results if r.name == "eps_placement")
    assert eps.max_abs_err > 1e-3 and "inside the square root" in eps.message


class DropoutNotRescaled(NumpySide):
    """Masks of 0/1 instead of 0/(1/(1-p)): the kept activations are not scaled up during training."""

    def loss_and_grads(self, batch):
        unscaled = [(m > 0).astype(float) for m in batch.masks]
        return self.mlp.loss_and_grads(self._params, self.inputs(batch), batch.y, unscaled)

    def step(self, batch):
        loss, grads = self.loss_and_grads(batch)
        updates, self.state = self.optimizer.update(grads, self.state, self._params)
        self._params = numpy_mlp.optim.apply_updates(self._params, updates)
        return loss

    def dropout_masks(self, rng, batch):
        return [(m > 0).astype(float) for m in super().dropout_masks(rng, batch)]


def test_dropout_without_rescaling_is_caught(data):
    results = run_checks(MODELS["dropout"].replace(epochs=1), data, DropoutNotRescaled, QUICK)
    by_name = {r.name: r for r in results}
    assert not by_name["dropout_statistics"].passed and "1/(1-p)" in by_name["dropout_statistics"].message
    assert not by_name["gradients"].passed and by_name["gradients"].step == 0


class DropoutAtEvaluation(NumpySide):
    def predict(self, x):
        masks = self.mlp.dropout_masks(np.random.default_rng(), len(x))
        return self.mlp.forward(self._params, x, masks).out


def test_dropout_left_on_at_evaluation_is_caught_in_the_forward_check(data):
    first = _first_failure(run_checks(MODELS["dropout"].replace(epochs=1), data, DropoutAtEvaluation, QUICK))
    assert (first.name, first.param) == ("forward", "output")


class RotationWrongSign(NumpySide):
    def inputs(self, batch):
        if batch.angles is None:
            return batch.x
        return numpy_mlp.augment.affine(batch.x, -batch.angles, batch.shifts)


def test_rotation_by_the_wrong_sign_is_caught_on_the_images(data):
    results = run_checks(MODELS["augment"].replace(epochs=1), data, RotationWrongSign, QUICK)
    first = _first_failure(results)
    assert first.name == "augment_images" and "first bad pixel" in first.message
    assert not next(r for r in results if r.name == "gradients").passed
