"""A lab class's hyperparameters in the lab's names, and where each goes on the torch side.

    model          lab name     torch                     note
    base           -            -                         Network(sizes): no hyperparameters
    softmax-ce     -            -
    l2-momentum    momentum     SGD momentum              v = mu*v - eta*g; w += v equals SGD(momentum=mu) at a
                   l2_factor    SGD weight_decay          constant eta; L2 as g + l2*w, weights only
    l2-sgd         l2_factor    SGD weight_decay          plain SGD, no momentum; L2 on weights only
    nesterov       momentum, l2_factor (as above)         nesterov=True is the model itself, not a parameter
    dropout        p            Spec.dropout              inverted dropout on hidden layers
                   momentum     SGD momentum
                   l2_factor    SGD weight_decay          optional (the preset has none)
    augment        momentum, l2_factor (l2_factor optional)
    adam           beta_1, beta_2   Adam betas            eps -> eps; weight_decay optional (L2 on weights)
    adamw          beta_1, beta_2   AdamW betas           eps -> eps; weight_decay -> weight_decay (decoupled)
    adagrad        eps          Adagrad eps
    adagrad-lab    eps          Adagrad eps

Defaults are the preset's own values (read back from the Spec), so `--hparam name=value` changes both sides
at once. A name the preset leaves unset (l2_factor for dropout) is passed only when the user gives it or the
constructor has a parameter of that name, with torch's neutral value (weight_decay 0). A value's range is the
Spec's to check: its SpecError comes back as an HparamError under the lab's name.

Nielsen's network2 (a class in his layout, see nielsen_side.py) takes its L2 term at each step instead:
update_mini_batch(mini_batch, eta, lmbda, n) does w <- (1 - eta*lmbda/n)*w - eta*mean(nabla_w), biases
undecayed, which is torch's SGD weight_decay = lmbda/n on weights only. So every model with an l2_factor also
accepts `lmbda` and `n` (--hparam lmbda=5 --hparam n=50000): weight_decay = lmbda/n on both sides, and a
network2-style class is given that lmbda and n (n defaults to NIELSEN_N, lmbda to weight_decay * n).
"""

from __future__ import annotations

import math

from crosscheck.spec import Spec, SpecError

# lab name -> torch target: a key of Spec.hparams, "betas[0]"/"betas[1]", or "dropout" (the Spec field)
_SGD = {"momentum": "momentum", "l2_factor": "weight_decay"}
_ADAM = {"beta_1": "betas[0]", "beta_2": "betas[1]", "eps": "eps", "weight_decay": "weight_decay"}
LAB_HPARAMS: dict[str, dict[str, str]] = {
    "base": {},
    "softmax-ce": {},
    "l2-momentum": dict(_SGD),
    "l2-sgd": {"l2_factor": "weight_decay"},
    "nesterov": dict(_SGD),
    "dropout": {"p": "dropout", **_SGD},
    "augment": dict(_SGD),
    "adam": dict(_ADAM),
    "adamw": dict(_ADAM),
    "adagrad": {"eps": "eps"},
    "adagrad-lab": {"eps": "eps"},
}
NIELSEN_N = 50000.0  # network2's n: len(training_data), the size of Nielsen's training set
NEUTRAL = {"weight_decay": 0.0}  # torch's value when a preset leaves the target unset
_TORCH_BETAS = (0.9, 0.999)


class HparamError(ValueError):
    """A --hparam the model does not take, or a value out of range: bad usage (exit 2), not a student's fault."""


def _table(spec: Spec) -> dict[str, str]:
    if spec.name not in LAB_HPARAMS:
        raise HparamError(f"model {spec.name!r} has no lab hyperparameter names; known: {', '.join(LAB_HPARAMS)}")
    return LAB_HPARAMS[spec.name]


def _read(spec: Spec, target: str) -> float | None:
    if target == "dropout":
        return spec.dropout or None
    if target.startswith("betas["):
        betas = spec.hparams.get("betas")
        return None if betas is None else float(betas[int(target[6])])
    value = spec.hparams.get(target)
    return None if value is None else float(value)


def lab_kwargs(spec: Spec) -> tuple[dict[str, float], dict[str, float]]:
    """(always passed, passed only if the constructor names them) in the lab's names, from the spec's values."""
    required, optional = {}, {}
    for lab, target in _table(spec).items():
        value = _read(spec, target)
        if value is not None:
            required[lab] = value
        elif target in NEUTRAL:
            optional[lab] = NEUTRAL[target]
    return required, optional


def parse_hparams(items: list[str] | None) -> dict[str, float]:
    """["momentum=0.9", ...] -> {"momentum": 0.9}; malformed items raise HparamError."""
    out: dict[str, float] = {}
    for item in items or []:
        name, sep, text = item.partition("=")
        name = name.strip()
        try:
            value = float(text)
        except ValueError:
            value = None
        if not sep or not name or value is None or not math.isfinite(value):
            raise HparamError(f"--hparam expects NAME=NUMBER, got {item!r}")
        out[name] = value
    return out


def apply_hparams(spec: Spec, overrides: dict[str, float]) -> Spec:
    """The spec with lab-named overrides written to their torch targets (both sides then use them)."""
    table = _table(spec)
    overrides = dict(overrides)
    lmbda, n = overrides.pop("lmbda", None), overrides.pop("n", None)
    if lmbda is not None or n is not None:
        spec = _nielsen_l2(spec, table, lmbda, n, "l2_factor" in overrides)
    for lab, value in overrides.items():
        if lab not in table:
            known = ", ".join(table) if table else "none (the lab's Network(sizes))"
            raise HparamError(f"model {spec.name} has no hyperparameter {lab!r}; it takes: {known}")
        if table[lab] == "dropout" and value == 0:  # a valid Spec, but another model: no dropout, no p to pass
            raise HparamError(f"{lab}=0 turns dropout off; model {spec.name} needs 0 < {lab} < 1")
        try:
            spec = _write(spec, table[lab], value)
        except SpecError as error:
            raise HparamError(f"{lab}={value:g}: {error}") from None
    return spec


def _nielsen_l2(spec: Spec, table: dict[str, str], lmbda: float | None, n: float | None, l2_given: bool) -> Spec:
    """network2's (lmbda, n) as torch's weight_decay = lmbda/n (weights only, as l2_factor)."""
    if table.get("l2_factor") != "weight_decay":
        raise HparamError(f"model {spec.name} has no L2 term: lmbda and n (network2's w <- (1 - eta*lmbda/n)*w) "
                          f"apply to the models that take l2_factor")
    if lmbda is not None and l2_given:
        raise HparamError("give l2_factor or lmbda (with n), not both: they set the same weight decay")
    if n is not None and not n > 0:
        raise HparamError(f"n={n:g}: network2's n (the training set size) must be positive")
    if lmbda is None:
        return spec
    try:
        return _write(spec, "weight_decay", lmbda / (n or NIELSEN_N))
    except SpecError as error:
        raise HparamError(f"lmbda={lmbda:g}: {error}") from None


def nielsen_n(overrides: dict[str, float] | None) -> float:
    """The n a network2-style update_mini_batch is given: --hparam n=..., else NIELSEN_N."""
    return float((overrides or {}).get("n", NIELSEN_N))


def _write(spec: Spec, target: str, value: float) -> Spec:
    if target == "dropout":
        return spec.replace(dropout=value)
    if target.startswith("betas["):
        betas = list(spec.hparams.get("betas", _TORCH_BETAS))
        betas[int(target[6])] = value
        return spec.replace(hparams={**spec.hparams, "betas": tuple(betas)})
    return spec.replace(hparams={**spec.hparams, target: value})
