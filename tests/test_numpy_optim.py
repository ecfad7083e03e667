"""numpy_mlp's optimizers: a named state that holds no hyperparameter, the same steps as torch.optim, torch's checks.

torch is driven as the harness drives it: torch_ref.build + torch_ref.make_optimizer (biases in their own param
group), float64, with the same random gradients given to both sides at every step.
"""

import math
import re

import numpy as np
import pytest
import torch

import numpy_mlp
import torch_ref
from numpy_mlp.optim import apply_updates
from torch_ref.model import linears

LAYERS = (5, 4, 3)
STEPS = 6
ADAM_FIELDS = ("count", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")
FIELDS = {"sgd": ("momentum_buffer",), "adam": ADAM_FIELDS, "adamw": ADAM_FIELDS, "adagrad": ("count", "sum"),
          "adagrad-lab": ("sum",)}

# (optimizer, lr, hyperparameters, decay_biases): every option each rule has, with and without decay on biases
CASES = [
    ("sgd", 0.1, {}, True),
    ("sgd", 0.1, {"momentum": 0.9, "weight_decay": 0.01}, False),
    ("sgd", 0.1, {"momentum": 0.9, "dampening": 0.3, "weight_decay": 0.01}, True),
    ("sgd", 0.1, {"momentum": 0.9, "nesterov": True, "weight_decay": 0.01}, False),
    ("adam", 0.01, {}, True),
    ("adam", 0.01, {"betas": (0.8, 0.99), "eps": 1e-6, "weight_decay": 0.1, "amsgrad": True}, False),
    ("adamw", 0.01, {}, True),
    ("adamw", 0.01, {"weight_decay": 0.1, "amsgrad": True}, False),
    ("adagrad", 0.1, {}, True),
    ("adagrad", 0.1, {"lr_decay": 0.01, "weight_decay": 0.1, "initial_accumulator_value": 0.2, "eps": 1e-6}, False),
    ("adagrad-lab", 0.1, {"eps": 1e-4}, True),
]


def _case_id(case: tuple) -> str:
    name, _, hparams, decay_biases = case
    return "-".join([name, *hparams, "biases" if decay_biases else "weights"])


def _params(rng: np.random.Generator) -> list[np.ndarray]:
    """Random parameters in the lab's layout [W0 (n_in, n_out), b0, W1, b1]."""
    shapes = [s for n_in, n_out in zip(LAYERS[:-1], LAYERS[1:]) for s in ((n_in, n_out), (n_out,))]
    return [0.5 * rng.standard_normal(s) for s in shapes]


def _numpy_optimizer(name: str, lr: float, hparams: dict, decay_biases: bool) -> numpy_mlp.Optimizer:
    """The NumPy twin of make_optimizer's param groups: a weight decay per parameter, 0 on biases unless decayed."""
    if "weight_decay" in hparams:
        wd = hparams["weight_decay"]
        hparams = {**hparams, "weight_decay": [wd if i % 2 == 0 or decay_biases else 0.0
                                               for i in range(2 * (len(LAYERS) - 1))]}
    return numpy_mlp.OPTIMIZERS[name](lr=lr, **hparams)


def _set_grads(model: torch.nn.Sequential, grads: list[np.ndarray]) -> None:
    for linear, w, b in zip(linears(model), grads[0::2], grads[1::2]):
        linear.weight.grad = torch.from_numpy(w.T.copy())
        linear.bias.grad = torch.from_numpy(b.copy())


def _holds_only_buffers(state: tuple, params: list[np.ndarray], steps: int) -> None:
    """Every field is the step count or one buffer (or None) per parameter, shaped like it: no hyperparameter."""
    for field, value in zip(state._fields, state):
        if field == "count":
            assert value == steps
        elif value is not None:
            assert len(value) == len(params), field
            for buffer, p in zip(value, params):
                assert buffer is None or (isinstance(buffer, np.ndarray) and buffer.shape == p.shape), field


@pytest.mark.parametrize("name", list(numpy_mlp.OPTIMIZERS))
def test_state_is_a_named_tuple_with_torchs_names(name):
    params = _params(np.random.default_rng(0))
    state = numpy_mlp.OPTIMIZERS[name](lr=0.1).init(params)
    assert isinstance(state, tuple) and type(state)._fields == FIELDS[name]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_state_holds_no_hyperparameter(case):
    rng = np.random.default_rng(1)
    params = _params(rng)
    optimizer = _numpy_optimizer(*case)
    state = optimizer.init(params)
    _holds_only_buffers(state, params, 0)
    for step in range(1, 3):
        updates, state = optimizer.update([rng.standard_normal(p.shape) for p in params], state, params)
        params = apply_updates(params, updates)
        _holds_only_buffers(state, params, step)


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_updates_agree_with_torch_optim(case):
    """Several steps from the same parameters and gradients land where torch.optim does, to float64 round-off."""
    name, lr, hparams, decay_biases = case
    rng = np.random.default_rng(2)
    params = _params(rng)
    model = torch_ref.build(LAYERS, dtype=torch.float64)
    torch_ref.load_lab_params(model, [torch.from_numpy(p) for p in params])
    mask = [i % 2 == 0 or decay_biases for i in range(len(params))]  # weights always; biases if decay_biases
    reference = torch_ref.make_optimizer(name, model, lr, mask, **hparams)
    optimizer = _numpy_optimizer(name, lr, hparams, decay_biases)
    state = optimizer.init(params)
    for step in range(STEPS):
        grads = [rng.standard_normal(p.shape) for p in params]
        updates, state = optimizer.update(grads, state, params)
        params = apply_updates(params, updates)
        _set_grads(model, grads)
        reference.step()
        torch.testing.assert_close([torch.from_numpy(p) for p in params], torch_ref.params_lab_layout(model),
                                   rtol=1e-12, atol=1e-14, msg=lambda m: f"step {step}: {m}")


# Bad hyperparameters that torch.optim's constructors refuse: numpy_mlp refuses them with torch's very message.
LIKE_TORCH = [
    ("sgd", {"lr": -0.1}),
    ("sgd", {"lr": 0.1, "momentum": -0.9}),
    ("sgd", {"lr": 0.1, "weight_decay": -1e-4}),
    ("sgd", {"lr": 0.1, "nesterov": True}),
    ("sgd", {"lr": 0.1, "momentum": 0.9, "dampening": 0.1, "nesterov": True}),
    ("adam", {"lr": math.nan}),
    ("adam", {"eps": -1e-8}),
    ("adam", {"betas": (1.0, 0.999)}),
    ("adam", {"betas": (0.9, -0.1)}),
    ("adam", {"weight_decay": -0.01}),
    ("adamw", {"betas": (0.9, 1.0)}),
    ("adamw", {"weight_decay": -0.01}),
    ("adagrad", {"lr": -1}),
    ("adagrad", {"lr_decay": -0.1}),
    ("adagrad", {"weight_decay": -1}),
    ("adagrad", {"initial_accumulator_value": -0.5}),
    ("adagrad", {"eps": -1e-10}),
]


@pytest.mark.parametrize(("name", "hparams"), LIKE_TORCH, ids=lambda v: v if isinstance(v, str) else str(v))
def test_bad_hyperparameters_are_refused_as_torch_does(name, hparams):
    with pytest.raises(ValueError) as torch_error:
        torch_ref.OPTIMIZERS[name]([torch.zeros(1)], **hparams)
    with pytest.raises(ValueError, match=f"^{re.escape(str(torch_error.value))}$"):
        numpy_mlp.OPTIMIZERS[name](**hparams)


@pytest.mark.parametrize(("name", "hparams", "message"), [
    ("adagrad-lab", {"lr": -0.1}, "Invalid learning rate: -0.1"),
    ("adagrad-lab", {"eps": -1e-8}, "Invalid epsilon value: -1e-08"),
    ("sgd", {"lr": math.nan}, "Invalid learning rate: nan"),  # torch's SGD checks lr < 0, which NaN passes
    ("sgd", {"lr": 0.1, "weight_decay": [0.1, 0.0, -0.1, 0.0]}, "Invalid weight_decay value: -0.1"),
])
def test_bad_hyperparameters_torch_has_no_twin_for(name, hparams, message):
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        numpy_mlp.OPTIMIZERS[name](**hparams)


@pytest.mark.parametrize("name", [n for n in numpy_mlp.OPTIMIZERS if n != "adagrad-lab"])
def test_a_wrong_number_of_weight_decays_is_refused_at_init(name):
    optimizer = numpy_mlp.OPTIMIZERS[name](lr=0.1, weight_decay=[0.1, 0.0, 0.1])
    with pytest.raises(ValueError, match="^3 weight decays for 4 parameters$"):
        optimizer.init(_params(np.random.default_rng(3)))
