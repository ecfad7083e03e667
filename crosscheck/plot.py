"""Accuracy curves, NumPy (solid) against torch (dashed), one panel per model."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from crosscheck.report import Report  # noqa: E402


def _figure(n_panels: int):
    cols = min(n_panels, 3)
    rows = -(-n_panels // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(5 * cols, 3.6 * rows), squeeze=False)
    for ax in axes.flat[n_panels:]:
        ax.set_visible(False)
    return fig, list(axes.flat)


def _finish(fig, path: str | Path) -> None:
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_report(report: Report, path: str | Path) -> None:
    curves = {model: next((r.extra["curve"] for r in results if r.name == "curves"), None)
              for model, results in report.results.items()}
    curves = {m: c for m, c in curves.items() if c}
    fig, axes = _figure(max(len(curves), 1))
    for ax, (model, curve) in zip(axes, curves.items()):
        epochs = range(1, len(curve["numpy"]) + 1)
        ax.plot(epochs, curve["numpy"], "-o", label="NumPy")
        ax.plot(epochs, curve["torch"], "--x", label="torch")
        ax.set(title=model, xlabel="epoch", ylabel="test accuracy")
        ax.legend()
    _finish(fig, path)


def plot_sweep(curves: dict, path: str | Path) -> None:
    """curves: {(model, lr): {"numpy": [[acc per epoch] per seed], "torch": [...]}}; seeds are averaged."""
    models = list(dict.fromkeys(model for model, _ in curves))
    fig, axes = _figure(len(models))
    for ax, model in zip(axes, models):
        for index, ((name, lr), sides) in enumerate((k, v) for k, v in curves.items() if k[0] == model):
            color = f"C{index}"
            for side, style in (("numpy", "-"), ("torch", "--")):
                per_seed = sides[side]
                mean = [sum(vals) / len(vals) for vals in zip(*per_seed)]
                ax.plot(range(1, len(mean) + 1), mean, style, color=color,
                        label=f"lr={lr:g} {'NumPy' if side == 'numpy' else 'torch'}")
        ax.set(title=model, xlabel="epoch", ylabel="test accuracy (mean over seeds)", ylim=(0, 1))
        ax.legend(fontsize=6, ncol=2)
    _finish(fig, path)
