"""Hand-written NumPy reference MLP for the lab (no torch here, on purpose).

Layout follows the lab: ``weights[l]`` is (n_in, n_out), ``biases[l]`` is (n_out,); parameters travel
as one flat list ``[W0, b0, W1, b1, ...]``, the same order as ``nn.Sequential.parameters()``.
"""

from numpy_mlp.functional import log_softmax, sigmoid, softmax
from numpy_mlp.model import MLP
from numpy_mlp.optim import OPTIMIZERS, Optimizer

__all__ = ["MLP", "OPTIMIZERS", "Optimizer", "log_softmax", "sigmoid", "softmax"]
