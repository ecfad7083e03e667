"""torch's intermediates of one call, named: what each array in a student's feedforward or backprop should be.

For parameters and inputs, torch_ref's network is run module by module with every output's gradient retained:
per layer l, z_l (the Linear's output), a_l (its activation; for the last layer the head's outputs, softmax or
sigmoid), f′(z_l) (autograd of a_l with respect to z_l: the activations are elementwise), ∂L/∂a_l and
δ_l = ∂L/∂z_l (retained gradients of the lab's mean loss), ∂L/∂W_l and ∂L/∂b_l; and x, y, W_l, b_l themselves.
Layers are numbered as the report numbers them (layer 0 maps x to the first hidden layer). Everything comes
back in the class's own layout: the lab's rows (B, n) and W (n_in, n_out), or Nielsen's columns (n, 1) and
W (n_out, n_in) for one sample.

`RECIPES` says which intermediates each one is made from (the chain rule's structure, nothing computed): blame
uses it to say what a wrong line left out or put in the wrong place.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
from torch import nn

import torch_ref
import torch_ref.functional
from crosscheck.sides import TorchSide
from crosscheck.spec import Spec

SUB = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")
PRIME = {"sigmoid": "σ′", "relu": "relu′", "tanh": "tanh′"}


@dataclass(frozen=True)
class Intermediate:
    kind: str  # x, y, W, b, z, a, fprime, dL/da, delta, dW, db; an update's: W+, b+ (after), ΔW, Δb, W:<state>, ...
    layer: int | None
    array: np.ndarray
    label: str  # "δ₀"
    meaning: str  # "δ₀ = ∂L/∂z₀"


def _label(kind: str, layer: int | None, activation: str) -> tuple[str, str]:
    n = "" if layer is None else str(layer).translate(SUB)
    labels = {"x": ("x", "x, the input"), "y": ("y", "y, the targets"), "W": (f"W{n}", f"W{n}, the weights"),
              "b": (f"b{n}", f"b{n}, the biases"), "z": (f"z{n}", f"z{n} = a·W{n} + b{n}"),
              "a": (f"a{n}", f"a{n} = {activation}(z{n})"),
              "fprime": (f"{PRIME.get(activation, activation + '′')}(z{n})",
                         f"{PRIME.get(activation, activation + '′')}(z{n}), the activation's derivative"),
              "dL/da": (f"∂L/∂a{n}", f"∂L/∂a{n}"), "delta": (f"δ{n}", f"δ{n} = ∂L/∂z{n}"),
              "dW": (f"∂L/∂W{n}", f"∂L/∂W{n}"), "db": (f"∂L/∂b{n}", f"∂L/∂b{n}")}
    return labels[kind]


def intermediates(spec: Spec, params: list[np.ndarray], x: np.ndarray, y: np.ndarray | None, layout: str = "lab"
                  ) -> list[Intermediate]:
    """torch's intermediates for params (the lab's layout [W0, b0, ...]) on x (B, n_in) and y (B, n_out; None for a
    forward alone), in `layout` ("lab", or "nielsen": x one sample)."""
    model = torch_ref.build(spec.layers, spec.hidden_activation, spec.head, 0.0)
    torch_ref.load_lab_params(model, [torch.from_numpy(p) for p in params])
    model.train()
    n = len(spec.layers) - 1
    z: list[torch.Tensor] = []
    a: list[torch.Tensor] = []
    acts: list[nn.Module] = []
    h = torch.from_numpy(np.asarray(x, dtype=np.float64))
    for module in model:
        h = module(h)
        if isinstance(module, nn.Linear):
            z.append(h)
        elif not isinstance(module, nn.Dropout):
            a.append(h)
            acts.append(module)
        h.retain_grad()
    logits = z[-1] if spec.head != "mse" else a[-1]
    if spec.head != "mse":
        a.append(torch_ref.probabilities(logits, spec.head))
        a[-1].retain_grad()
        acts.append(nn.Sigmoid() if spec.head == "bce" else None)
    activation = [spec.hidden_activation] * (n - 1) + ["sigmoid" if spec.head != "ce" else "softmax"]
    if y is not None:
        torch_ref.loss(logits, torch.from_numpy(np.asarray(y, dtype=np.float64)), spec.head).backward()
    # after the backward, on detached copies: autograd.grad through the graph would add to the retained grads
    fprime = [None if m is None else _derivative(m, z_l.detach().numpy()) for m, z_l in zip(acts, z)]
    out = []
    linears = torch_ref.model.linears(model)
    out.append(_make("x", None, x, "", layout))
    if y is not None:
        out.append(_make("y", None, y, "", layout))
    for l in range(n):
        act = activation[l]
        out.append(_make("W", l, linears[l].weight.detach().T.numpy(), act, layout))
        out.append(_make("b", l, linears[l].bias.detach().numpy(), act, layout))
        out.append(_make("z", l, z[l].detach().numpy(), act, layout))
        out.append(_make("a", l, a[l].detach().numpy(), act, layout))
        if fprime[l] is not None:
            out.append(_make("fprime", l, fprime[l], act, layout))
        if y is None:
            continue
        if a[l].grad is not None:
            out.append(_make("dL/da", l, a[l].grad.numpy(), act, layout))
        out.append(_make("delta", l, z[l].grad.numpy(), act, layout))
        out.append(_make("dW", l, linears[l].weight.grad.T.numpy(), act, layout))
        out.append(_make("db", l, linears[l].bias.grad.numpy(), act, layout))
    return out


def _make(kind: str, layer: int | None, array: np.ndarray, activation: str, layout: str) -> Intermediate:
    return _made(kind, layer, array, *_label(kind, layer, activation), layout)


STATES = {"momentum_buffer": "torch's momentum buffer", "exp_avg": "Adam's first moment m",
          "exp_avg_sq": "Adam's second moment v", "sum": "Adagrad's sum of squared gradients"}


def update_intermediates(spec: Spec, history: list[tuple[list[np.ndarray], float | None, list[np.ndarray]]],
                         params: list[np.ndarray], grads: list[np.ndarray], lr: float | None, layout: str = "lab"
                         ) -> list[Intermediate]:
    """torch.optim's step from `params` on `grads` (the candidate's own, as the updates check judges it), after the
    steps of `history` ([(parameters, lr, gradients)] each): per parameter, its value before and after, the step
    Δ, the gradient, and torch.optim's state before and after (momentum buffers, Adam's moments, Adagrad's sums)."""
    judge = TorchSide(spec, params)
    for before, step_lr, step_grads in history:
        judge.set_params(before)
        judge.step_with(step_grads, step_lr)
    tensors = [t for lin in torch_ref.model.linears(judge.model) for t in (lin.weight, lin.bias)]
    state_before = _states(judge, tensors)
    judge.set_params(params)
    judge.step_with(grads, lr)
    after, state_after = judge.params(), _states(judge, tensors)
    out: list[Intermediate] = []
    for i, (p, g, a) in enumerate(zip(params, grads, after)):
        name, layer = ("W", "b")[i % 2], i // 2
        n = str(layer).translate(SUB)
        out.append(_made(name, layer, p, f"{name}{n}", f"{name}{n} before the step", layout))
        out.append(_made("d" + name, layer, g, f"∂L/∂{name}{n}", f"∂L/∂{name}{n}, the gradient the step is given",
                         layout))
        out.append(_made(name + "+", layer, a, f"{name}{n} after", f"{name}{n} after torch.optim's step", layout))
        out.append(_made("Δ" + name, layer, a - p, f"Δ{name}{n}", f"Δ{name}{n}, torch.optim's step", layout))
        for key, value in state_after[i].items():
            what = STATES.get(key, key)
            out.append(_made(f"{name}:{key}", layer, value, f"{what} of {name}{n}", f"{what} of {name}{n}", layout))
            if key in state_before[i]:
                out.append(_made(f"{name}:{key}-", layer, state_before[i][key], f"{what} of {name}{n} before the step",
                             f"{what} of {name}{n} before the step", layout))
    return out


def _states(side: TorchSide, tensors: list[torch.Tensor]) -> list[dict[str, np.ndarray]]:
    """torch.optim's per-parameter state tensors, in the lab's layout (a Linear's weight is (n_out, n_in))."""
    out = []
    for i, t in enumerate(tensors):
        state = side.optimizer.state.get(t, {})
        out.append({k: (v.detach().T if i % 2 == 0 else v.detach()).double().numpy().copy()
                    for k, v in state.items() if isinstance(v, torch.Tensor) and v.shape == t.shape})
    return out


def _made(kind: str, layer: int | None, array: np.ndarray, label: str, meaning: str, layout: str) -> Intermediate:
    array = np.array(array, dtype=np.float64, copy=True)
    if layout == "nielsen":  # rows become columns (one sample), W (n_in, n_out) becomes (n_out, n_in)
        array = array.T.copy() if array.ndim == 2 else array.reshape(-1, 1)
    return Intermediate(kind, layer, array, label, meaning)


def ingredients(kind: str, layer: int, n_layers: int, head: str) -> list[tuple[str, int | None]]:
    """What intermediate (kind, layer) is made from, by the chain rule and the forward's definition; an update's
    by the optimizer's (its state from its state before, the gradient, the parameter for weight decay)."""
    if kind.endswith("+"):  # W+, b+: the parameter after the step
        return [(kind[:-1], layer), ("Δ" + kind[:-1], layer)]
    if kind.startswith("Δ"):
        name = kind[1:]
        return [(f"{name}:{key}", layer) for key in STATES] + [("d" + name, layer), (name, layer)]
    if ":" in kind and not kind.endswith("-"):  # a state from its value before, the gradient (and p: SGD's decay)
        name = kind.split(":")[0]
        decay = [(name, layer)] if kind.endswith("momentum_buffer") else []
        return [(kind + "-", layer), ("d" + name, layer)] + decay
    last = layer == n_layers - 1
    below = ("a", layer - 1) if layer > 0 else ("x", None)
    if kind == "z":
        return [below, ("W", layer), ("b", layer)]
    if kind in ("a", "fprime"):
        return [("z", layer)]
    if kind == "dL/da":
        return [("a", layer), ("y", None)] if last else [("delta", layer + 1), ("W", layer + 1)]
    if kind == "delta":
        if last and head != "mse":
            return [("a", layer), ("y", None)]
        return [("dL/da", layer), ("fprime", layer)]
    if kind == "dW":
        return [below, ("delta", layer)]
    if kind == "db":
        return [("delta", layer)]
    return []


@dataclass(frozen=True)
class Function:
    """A function a student's helper may implement, computed by torch; `named`: the words a helper's name holds
    when it is named for this function (one word of each group: ("sigmoid",), ("prime", "deriv"))."""

    name: str
    arity: int
    fn: Callable[..., np.ndarray]
    named: tuple[tuple[str, ...], ...]


def functions() -> list[Function]:
    """What a helper may compute, to tell a right helper given the wrong argument from a wrong helper: the
    activations and their derivatives, softmax (over rows, and the slip over axis 0), and the error (a − y)/B
    (the gradient of the lab's MSE cost with respect to a: a cost_derivative)."""
    out = []
    for name in PRIME:
        module = torch_ref.model.ACTIVATIONS[name]()
        out.append(Function(name, 1, lambda v, m=module: m(torch.from_numpy(v)).detach().numpy(), ((name,),)))
        out.append(Function(PRIME[name], 1, lambda v, m=module: _derivative(m, v),
                            ((name,), ("prime", "deriv", "grad"))))
    out.append(Function("softmax", 1, lambda v: _rows(torch_ref.functional.softmax, v), (("softmax",),)))
    out.append(Function("softmax over axis 0 (down the batch)", 1,
                        lambda v: torch_ref.functional.softmax(torch.from_numpy(v), 0).numpy(), (("softmax",),)))
    out.append(Function("(a − y)/B", 2, _mse_error, (("cost", "error", "delta", "deriv", "loss"),)))
    return out


def _mse_error(a: np.ndarray, y: np.ndarray) -> np.ndarray:
    """∂/∂a of the lab's MSE cost sum((a − y)²)/(2B), B the rows (Nielsen's column: one sample)."""
    t = torch.from_numpy(np.array(a, dtype=np.float64)).requires_grad_(True)
    target = torch.from_numpy(np.asarray(y, dtype=np.float64))
    if t.ndim == 2 and t.shape[1] == 1:
        t_rows, target = t.T, target.T
    else:
        t_rows = t
    return torch.autograd.grad(torch_ref.loss(t_rows, target, "mse"), t)[0].numpy()


def _derivative(module: nn.Module, v: np.ndarray) -> np.ndarray:
    t = torch.from_numpy(np.array(v, dtype=np.float64)).requires_grad_(True)
    return torch.autograd.grad(module(t).sum(), t)[0].numpy()


def _rows(fn: Callable[[torch.Tensor], torch.Tensor], v: np.ndarray) -> np.ndarray:
    """A row-wise function on the lab's rows, or on Nielsen's columns (one sample)."""
    t = torch.from_numpy(np.asarray(v, dtype=np.float64))
    if t.ndim == 2 and t.shape[1] == 1:
        return fn(t.T).T.numpy()
    return fn(t).numpy()
