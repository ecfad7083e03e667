"""Every check on every preset passes at float64, and deliberately broken NumPy code is caught and localised.

The tests that take `each_data` run twice: on the embedded split and on the default data (the real t10k in CI).
"""

import os

import numpy as np
import pytest

import numpy_mlp
from crosscheck.checks import Plan, check_softmax, run_checks
from crosscheck.sides import NumpySide
from crosscheck.spec import MODELS, TASKS, preset

QUICK = Plan(steps=20, fd_coords=3)


def _by_name(results):
    return {r.name: r for r in results}


@pytest.mark.parametrize("task", ["base", "1", "2"])
def test_foundation_tasks_pass_every_check(task, each_data):
    for spec in preset(task):
        results = run_checks(spec.replace(epochs=2), each_data, plan=QUICK)
        expected = ["forward", "loss", "gradients", "finite_differences", "updates", "curves"]
        assert [r.name for r in results] == (["softmax"] if spec.head == "ce" else []) + expected
        failed = [(r.name, r.message) for r in results if not r.passed]
        assert not failed, failed


def test_lockstep_agreement_is_near_round_off(data):
    """The measured agreement behind the tolerances: float64 lockstep stays within ~1e-15 absolute."""
    results = _by_name(run_checks(MODELS["l2-momentum"].replace(epochs=1), data, plan=QUICK))
    assert results["forward"].max_abs_err < 1e-13
    assert results["gradients"].max_abs_err < 1e-14
    assert results["updates"].max_abs_err < 1e-13


def test_softmax_task_zero():
    assert check_softmax(numpy_mlp.softmax).passed
    unstable = check_softmax(lambda z: np.exp(z) / np.exp(z).sum(axis=-1, keepdims=True))
    assert not unstable.passed
    assert "softmax(large)" in unstable.message or "softmax(huge)" in unstable.message


def test_softmax_that_ignores_axis_is_caught():
    wrong_axis = check_softmax(lambda z: np.exp(z - z.max()) / np.exp(z - z.max()).sum())
    assert not wrong_axis.passed


class FanInScaledGradient(NumpySide):
    """Layer 1's weight gradient divided by its fan-in, a classic slip."""

    def loss_and_grads(self, batch):
        loss, grads = super().loss_and_grads(batch)
        grads[2] = grads[2] / self.spec.layers[1]
        return loss, grads

    def step(self, batch):
        loss, grads = self.loss_and_grads(batch)
        updates, self.state = self.optimizer.update(grads, self.state, self._params)
        self._params = numpy_mlp.optim.apply_updates(self._params, updates)
        return loss


def test_broken_gradient_is_localised_with_its_factor(each_data):
    results = run_checks(MODELS["softmax-ce"].replace(epochs=1), each_data, FanInScaledGradient, QUICK)
    first = next(r for r in results if not r.passed)
    assert (first.name, first.layer, first.param, first.step) == ("gradients", 1, "weight", 0)
    assert first.ratio == pytest.approx(1 / 30)
    assert first.index is not None and first.got is not None and first.want is not None
    fd = _by_name(results)["finite_differences"]
    assert not fd.passed and (fd.layer, fd.param) == (1, "weight")


class L2OnBiases(NumpySide):
    """Weight decay on every parameter although the task says weights only."""

    def __init__(self, spec, init):
        super().__init__(spec.replace(decay_biases=True), init)


def test_l2_on_biases_is_caught_at_the_first_update(each_data):
    results = run_checks(MODELS["l2-momentum"].replace(epochs=1), each_data, L2OnBiases, QUICK)
    first = next(r for r in results if not r.passed)
    assert (first.name, first.param, first.step) == ("updates", "bias", 0)
    assert _by_name(results)["gradients"].passed


def test_every_task_names_known_models():
    for task, names in TASKS.items():
        assert names and all(name in MODELS for name in names), task
    assert all(s.layers == (784, 100, 30, 10) for s in preset("4"))


def test_the_default_data_is_the_real_t10k_in_ci(default_data):
    """The `auto` runs above are only worth their time if auto finds the shared data: in CI it must."""
    if not os.environ.get("CI"):
        pytest.skip("outside CI, load('auto') may fall back to the embedded split")
    assert "[auto: found shared data dir]" in default_data.source, default_data.source
    assert len(default_data.x_test) == 10_000 and "MNIST t10k test from" in default_data.source, default_data.source
