"""The MLP as nn.Sequential of nn.Linear, activations and nn.Dropout (twin: numpy_mlp/model.py)."""

from __future__ import annotations

import torch
from torch import nn

# "softmax" as a hidden activation is never a preset: crosscheck.diagnose builds it to recognise that slip.
ACTIVATIONS = {"sigmoid": nn.Sigmoid, "relu": nn.ReLU, "tanh": nn.Tanh, "softmax": lambda: nn.Softmax(dim=-1)}


def build(layers: tuple[int, ...], hidden_activation: str = "sigmoid", head: str = "mse", dropout: float = 0.0,
          dtype: torch.dtype = torch.float64) -> nn.Sequential:
    """Linear -> activation [-> Dropout] per hidden layer; the mse head ends in Sigmoid, ce and bce in raw logits."""
    modules: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(zip(layers[:-1], layers[1:])):
        modules.append(nn.Linear(n_in, n_out, dtype=dtype))
        if i < len(layers) - 2:
            modules.append(ACTIVATIONS[hidden_activation]())
            if dropout:
                modules.append(nn.Dropout(dropout))
    if head == "mse":
        modules.append(nn.Sigmoid())
    return nn.Sequential(*modules)


def linears(model: nn.Sequential) -> list[nn.Linear]:
    return [m for m in model if isinstance(m, nn.Linear)]


@torch.no_grad()
def load_lab_params(model: nn.Sequential, params: list[torch.Tensor]) -> None:
    """Copy [W0 (n_in, n_out), b0, W1, b1, ...] into the Linear layers (weight = W.T)."""
    for linear, w, b in zip(linears(model), params[0::2], params[1::2]):
        linear.weight.copy_(w.T)
        linear.bias.copy_(b)


def params_lab_layout(model: nn.Sequential) -> list[torch.Tensor]:
    return [t.detach().clone() for lin in linears(model) for t in (lin.weight.T, lin.bias)]


def grads_lab_layout(model: nn.Sequential) -> list[torch.Tensor]:
    return [t.detach().clone() for lin in linears(model) for t in (lin.weight.grad.T, lin.bias.grad)]


def set_grads_lab_layout(model: nn.Sequential, grads: list[torch.Tensor]) -> None:
    """Set .grad from [dW0 (n_in, n_out), db0, ...]: an optimizer step on gradients computed elsewhere."""
    for linear, w, b in zip(linears(model), grads[0::2], grads[1::2]):
        linear.weight.grad = w.T.clone().to(linear.weight.dtype)
        linear.bias.grad = b.clone().to(linear.bias.dtype)


def loss(out: torch.Tensor, y: torch.Tensor, head: str) -> torch.Tensor:
    """mse: the lab's sum((a - y)^2) / (2B) from MSELoss(sum); ce: CrossEntropyLoss (mean) on logits; bce: binary
    cross-entropy summed over the outputs, mean over the batch.

    bce uses BCEWithLogitsLoss on the logits, not BCELoss on sigmoid outputs: measured in float64 against NumPy's
    max(z, 0) - z·y + log1p(e^-|z|), the logits form agrees to 3.9e-16 (loss) and 3.6e-16 (gradient) for logits
    up to ±1e3, while BCELoss is already 6e-13 off at |z| ~ 5 and wrong beyond |z| ~ 37, where σ(z) rounds to 1
    and BCELoss clamps log(0) to -100.
    """
    if head == "mse":
        return nn.MSELoss(reduction="sum")(out, y) / (2 * len(y))
    if head == "bce":
        return nn.BCEWithLogitsLoss(reduction="sum")(out, y) / len(y)
    return nn.CrossEntropyLoss()(out, y)


def probabilities(out: torch.Tensor, head: str) -> torch.Tensor:
    """What the network predicts: the mse head's sigmoid outputs as they are, sigmoid (bce) or softmax (ce) of the
    logits."""
    if head == "mse":
        return out
    return torch.sigmoid(out) if head == "bce" else torch.softmax(out, dim=-1)


def dropout_noise(model: nn.Sequential, batch: int, seed: int) -> list[torch.Tensor]:
    """The scaled masks (0 or 1/(1-p)) that each nn.Dropout draws in a training forward seeded with `seed`.

    A forward consumes torch's generator only in its Dropout modules, in order, one (batch, width) draw each, so
    running the same modules on ones after the same seed replays exactly the noise the real forward will use.
    """
    torch.manual_seed(seed)
    noise, width = [], 0
    for module in model:
        if isinstance(module, nn.Linear):
            width = module.out_features
        elif isinstance(module, nn.Dropout):
            ones = torch.ones(batch, width, dtype=module_dtype(model))
            noise.append(module.train()(ones))
    return noise


def module_dtype(model: nn.Sequential) -> torch.dtype:
    return next(model.parameters()).dtype
