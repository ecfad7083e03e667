"""Spec validates itself: every field and hyperparameter with one line naming it, the JSON codec, the data fit."""

import dataclasses
import inspect
import json
import math

import pytest
import torch

import numpy_mlp
import torch_ref
from crosscheck.data import check_fit
from crosscheck.spec import (HEADS, HIDDEN_ACTIVATIONS, MODELS, OPTIMIZERS, TASKS, Spec, SpecError,
                             preset)

ALL_PRESETS = {f"{task}/{spec.name}": spec for task in TASKS for spec in preset(task)}
BASE = MODELS["base"]
ADAM = MODELS["adam"]


@pytest.mark.parametrize("key", ALL_PRESETS)
def test_every_preset_and_task_preset_is_valid_and_round_trips(key):
    spec = ALL_PRESETS[key]
    assert dataclasses.replace(spec) == spec  # validated again from its fields
    assert Spec.from_dict(spec.to_dict()) == spec
    through_json = Spec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert through_json == spec and isinstance(through_json.layers, tuple)
    if "betas" in spec.hparams:
        assert isinstance(through_json.hparams["betas"], tuple)


@pytest.mark.parametrize("changes, field", [
    (dict(layers=[784, 30, 10]), "layers"),
    (dict(layers=(784,)), "layers"),
    (dict(layers=(784, 0, 10)), "layers"),
    (dict(layers=(784, 30.0, 10)), "layers"),
    (dict(layers=(784, True, 10)), "layers"),
    (dict(head="softmax"), "head"),
    (dict(hidden_activation="gelu"), "hidden_activation"),
    (dict(optimizer="rmsprop"), "optimizer"),
    (dict(lr=0.0), "lr"),
    (dict(lr=-0.1), "lr"),
    (dict(lr=math.inf), "lr"),
    (dict(lr=math.nan), "lr"),
    (dict(lr="0.1"), "lr"),
    (dict(batch_size=0), "batch_size"),
    (dict(batch_size=10.0), "batch_size"),
    (dict(epochs=0), "epochs"),
    (dict(epochs=True), "epochs"),
    (dict(seed=-1), "seed"),
    (dict(dropout=1.0), "dropout"),
    (dict(dropout=-0.1), "dropout"),
    (dict(max_degrees=-1.0), "max_degrees"),
    (dict(max_shift=math.inf), "max_shift"),
    (dict(decay_biases=1), "decay_biases"),
    (dict(only_softmax="no"), "only_softmax"),
    (dict(hparams=[("momentum", 0.9)]), "hparams"),
    (dict(hparams=dict(betas=(0.9, 0.999))), "hparams for sgd: 'betas'"),
    (dict(hparams=dict(momentum=1.0)), "momentum"),
    (dict(hparams=dict(momentum=-0.1)), "momentum"),
    (dict(hparams=dict(momentum=0.9, dampening=1.5)), "dampening"),
    (dict(hparams=dict(weight_decay=-1e-3)), "weight_decay"),
    (dict(hparams=dict(nesterov=True)), "nesterov"),
    (dict(hparams=dict(momentum=0.9, nesterov=True, dampening=0.1)), "nesterov"),
    (dict(hparams=dict(momentum=0.9, nesterov=1)), "nesterov"),
    (dict(optimizer="adam", hparams=dict(momentum=0.9)), "hparams for adam: 'momentum'"),
    (dict(optimizer="adam", hparams=dict(betas=(0.9, 1.0))), "betas[1]"),
    (dict(optimizer="adam", hparams=dict(betas=(-0.1, 0.999))), "betas[0]"),
    (dict(optimizer="adam", hparams=dict(betas=(0.9,))), "betas"),
    (dict(optimizer="adamw", hparams=dict(eps=-1e-8)), "eps"),
    (dict(optimizer="adamw", hparams=dict(amsgrad="yes")), "amsgrad"),
    (dict(optimizer="adagrad", hparams=dict(lr_decay=-1.0)), "lr_decay"),
    (dict(optimizer="adagrad", hparams=dict(initial_accumulator_value=-1.0)), "initial_accumulator_value"),
    (dict(optimizer="adagrad-lab", hparams=dict(weight_decay=0.1)), "hparams for adagrad-lab: 'weight_decay'"),
])
def test_every_invalid_field_is_one_line_naming_it(changes, field):
    with pytest.raises(SpecError) as raised:
        BASE.replace(**changes)
    message = str(raised.value)
    assert isinstance(raised.value, ValueError) and "\n" not in message
    assert message.startswith(f"Invalid {field}"), message


@pytest.mark.parametrize("optimizer, hparams", [
    ("sgd", dict(momentum=-0.1)),
    ("sgd", dict(weight_decay=-1.0)),
    ("sgd", dict(nesterov=True)),
    ("sgd", dict(momentum=0.9, nesterov=True, dampening=0.5)),
    ("adam", dict(betas=(1.0, 0.999))),
    ("adam", dict(betas=(0.9, -0.5))),
    ("adamw", dict(eps=-1e-8)),
    ("adagrad", dict(lr_decay=-0.1)),
    ("adagrad", dict(initial_accumulator_value=-0.1)),
])
def test_what_torch_optim_rejects_the_spec_rejects(optimizer, hparams):
    with pytest.raises(ValueError):
        torch_ref.OPTIMIZERS[optimizer]([torch.zeros(1, requires_grad=True)], lr=0.1, **hparams)
    with pytest.raises(SpecError):
        BASE.replace(optimizer=optimizer, hparams=hparams)


def test_the_names_are_the_sides_names():
    assert set(OPTIMIZERS) == set(numpy_mlp.OPTIMIZERS) == set(torch_ref.OPTIMIZERS)
    for name, takes in OPTIMIZERS.items():
        constructor = torch_ref.optim.lab_adagrad_hparams if name == "adagrad-lab" else torch_ref.OPTIMIZERS[name]
        assert set(takes) <= set(inspect.signature(constructor).parameters), name
        assert set(takes) <= set(inspect.signature(numpy_mlp.OPTIMIZERS[name]).parameters), name
    assert set(HIDDEN_ACTIVATIONS) == set(torch_ref.model.ACTIVATIONS)
    assert set(HEADS) == set(numpy_mlp.model.HEADS)


def test_valid_edges_are_accepted():
    BASE.replace(lr=1e-12, dropout=0.0, seed=0, batch_size=1, epochs=1, layers=(1, 1))
    BASE.replace(hparams=dict(momentum=0.0, dampening=1.0, weight_decay=0.0))
    ADAM.replace(hparams=dict(betas=(0.0, 0.0), eps=0.0, amsgrad=True))


def test_from_dict_rejects_unknown_fields():
    with pytest.raises(SpecError, match="Invalid Spec fields: colour"):
        Spec.from_dict({**BASE.to_dict(), "colour": "red"})


def test_check_fits_what_only_the_data_decides():
    BASE.check_fits(784, 10, 100)
    with pytest.raises(SpecError, match=r"^Invalid batch_size value: 6000 is larger than the 4000 training samples$"):
        BASE.replace(batch_size=6000).check_fits(784, 10, 4000)
    with pytest.raises(SpecError, match=r"starts at 784, but the data has 100 features per sample"):
        BASE.check_fits(100, 10, 4000)
    with pytest.raises(SpecError, match=r"ends at 10, but the data has 5 classes"):
        BASE.check_fits(784, 5, 4000)
    MODELS["softmax"].replace(batch_size=6000).check_fits(784, 10, 4000)  # task 0 trains on nothing


def test_check_fit_reads_the_dataset(data):
    check_fit(preset("4"), data)
    with pytest.raises(SpecError, match=f"larger than the {len(data.x_train)} training samples"):
        check_fit([BASE, BASE.replace(batch_size=len(data.x_train) + 1)], data)
