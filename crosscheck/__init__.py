"""mlp-crosscheck: run a NumPy MLP and its torch twin side by side and say where they diverge."""

from crosscheck.spec import MODELS, TASKS, Spec, preset

__all__ = ["MODELS", "TASKS", "Spec", "preset"]
