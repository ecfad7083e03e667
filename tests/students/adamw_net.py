"""Task 3: AdamW (decoupled weight decay on every parameter), the lab's names."""

import numpy as np

from softmax_net import SoftmaxNetwork


class AdamWNetwork(SoftmaxNetwork):
    def __init__(self, sizes, weight_decay=0.01, beta_1=0.9, beta_2=0.999, eps=1e-8):
        super().__init__(sizes)
        self.weight_decay, self.beta_1, self.beta_2, self.eps = weight_decay, beta_1, beta_2, eps
        self.m_w = [np.zeros(w.shape) for w in self.weights]
        self.v_w = [np.zeros(w.shape) for w in self.weights]
        self.m_b = [np.zeros(b.shape) for b in self.biases]
        self.v_b = [np.zeros(b.shape) for b in self.biases]
        self.t = 0

    def _adamw(self, p, g, m, v, eta):
        m = self.beta_1 * m + (1 - self.beta_1) * g
        v = self.beta_2 * v + (1 - self.beta_2) * g * g
        m_hat = m / (1 - self.beta_1 ** self.t)
        v_hat = v / (1 - self.beta_2 ** self.t)
        p = p - eta * (m_hat / (np.sqrt(v_hat) + self.eps) + self.weight_decay * p)
        return p, m, v

    def update_mini_batch(self, x_mini_batch, y_mini_batch, eta):
        nabla_b, nabla_w = self.backprop(x_mini_batch, y_mini_batch)
        self.t += 1
        new_w, new_b = [], []
        for i in range(len(self.weights)):
            w, self.m_w[i], self.v_w[i] = self._adamw(self.weights[i], nabla_w[i], self.m_w[i], self.v_w[i], eta)
            b, self.m_b[i], self.v_b[i] = self._adamw(self.biases[i], nabla_b[i], self.m_b[i], self.v_b[i], eta)
            new_w.append(w)
            new_b.append(b)
        self.weights, self.biases = new_w, new_b
