"""Task 3 dropout classes for the no-false-PASS tests: a step uphill, a drop rate 7 points off, fresh noise."""

import numpy as np

from dropout_net import DropoutNetwork


class UphillDropout(DropoutNetwork):
    """Correct dropout and gradients, but the step climbs the loss at 1000 x eta."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        super().update_mini_batch(x_mini_batch, y_mini_batch, -1000 * eta)


class Drops27(DropoutNetwork):
    """Drops 27% of the units when asked for p = 20% (a hard-coded keep probability)."""

    def backprop(self, x, y):
        p, self.p = self.p, 0.27
        try:
            return super().backprop(x, y)
        finally:
            self.p = p


class FreshNoise(DropoutNetwork):
    """Correct, with a generator seeded afresh from the OS at every call: its noise cannot be replayed."""

    def backprop(self, x, y):
        state = np.random.get_state()
        np.random.seed(np.random.SeedSequence().entropy % 2**32)
        try:
            return super().backprop(x, y)
        finally:
            np.random.set_state(state)


class FreshNoiseUphill(FreshNoise):
    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        super().update_mini_batch(x_mini_batch, y_mini_batch, -1000 * eta)
