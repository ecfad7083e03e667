"""The same models and optimizers built from real torch.nn / torch.optim / torchvision (nothing re-derived here).

Parameters cross the wall in the lab's layout: weight (n_in, n_out) is ``nn.Linear.weight.T``.
"""

from torch_ref.model import (build, grads_lab_layout, load_lab_params, loss, params_lab_layout, probabilities,
                             set_grads_lab_layout)
from torch_ref.optim import OPTIMIZERS, make_optimizer

__all__ = ["OPTIMIZERS", "build", "grads_lab_layout", "load_lab_params", "loss", "make_optimizer",
           "params_lab_layout", "probabilities", "set_grads_lab_layout"]
