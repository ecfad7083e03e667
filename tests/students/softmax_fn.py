"""Task 0: softmax functions."""

import numpy as np


def stable_softmax(x, axis=-1):
    x = x - np.max(x, axis=axis, keepdims=True)
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def unstable_softmax(x, axis=-1):
    e = np.exp(x)
    return e / np.sum(e, axis=axis, keepdims=True)


def log_form_softmax(x, axis=-1):
    """Through log-sum-exp, in the form that keeps precision: exp((x - m) - log sum exp(x - m))."""
    shifted = x - np.max(x, axis=axis, keepdims=True)
    return np.exp(shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True)))


def exp_minus_logsumexp(x, axis=-1):
    """exp(x - logsumexp(x)): m + log(sum) rounds back to m next to a huge max, so tied maxima each get 1."""
    m = np.max(x, axis=axis, keepdims=True)
    return np.exp(x - (m + np.log(np.sum(np.exp(x - m), axis=axis, keepdims=True))))
