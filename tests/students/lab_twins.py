"""Lab-layout twins of the buggy classes in nielsen.py: the same slip, in the lab's layout."""

from cross_entropy_cost import Network2L2
from softmax_net import SoftmaxNetwork


class UpdateBatchSum(SoftmaxNetwork):
    """Task 1: steps by the batch's summed gradient (eta * B * the mean)."""

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        n = len(x_mini_batch)
        self.weights = [w - eta * n * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [b - eta * n * nb for b, nb in zip(self.biases, nabla_b)]


class Network2L2OnBiases(Network2L2):
    """Task 2 (l2-sgd): network2's decay applied to the biases too."""

    def update_mini_batch(self, x, y, eta):
        nabla_b, nabla_w = self.backprop(x, y)
        decay = 1 - eta * self.l2_factor
        self.weights = [decay * w - eta * nw for w, nw in zip(self.weights, nabla_w)]
        self.biases = [decay * b - eta * nb for b, nb in zip(self.biases, nabla_b)]
