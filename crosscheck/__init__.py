"""mlp-crosscheck: run a NumPy MLP and its torch twin side by side and say where they diverge."""

from typing import Any

from crosscheck.spec import MODELS, TASKS, Spec, preset

__all__ = ["MODELS", "TASKS", "Spec", "preset", "check"]


def __getattr__(name: str) -> Any:  # lazy: `import crosscheck` stays light; check() needs torch (~2.5 s to import)
    if name == "check":
        from crosscheck.notebook import check
        return check
    raise AttributeError(f"module 'crosscheck' has no attribute {name!r}")
