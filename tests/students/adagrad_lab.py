"""Task 3: the lab's simplified Adagrad, G += g^2; p -= eta * g / sqrt(G + eps)."""

import numpy as np

from softmax_net import SoftmaxNetwork


class AdagradNetwork(SoftmaxNetwork):
    def __init__(self, sizes, eps=1e-8):
        super().__init__(sizes)
        self.eps = eps
        self.G_w = [np.zeros_like(w) for w in self.weights]
        self.G_b = [np.zeros_like(b) for b in self.biases]

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        self.G_w = [G + g ** 2 for G, g in zip(self.G_w, nabla_w)]
        self.G_b = [G + g ** 2 for G, g in zip(self.G_b, nabla_b)]
        self.weights = [w - eta * g / np.sqrt(G + self.eps) for w, g, G in zip(self.weights, nabla_w, self.G_w)]
        self.biases = [b - eta * g / np.sqrt(G + self.eps) for b, g, G in zip(self.biases, nabla_b, self.G_b)]
