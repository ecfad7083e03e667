"""The lab's evaluate_model grid (learning rates x seeds x epochs), run on both sides with every check on."""

from __future__ import annotations

import numpy as np
import pandas as pd

from crosscheck.checks import Plan
from crosscheck.data import Dataset, check_fit
from crosscheck.parallel import Workers, run_all
from crosscheck.spec import Spec

LAB_LRS = [0.001, 0.01, 0.1, 1.0, 10.0]
LAB_SEEDS = [0, 1, 2]
LAB_EPOCHS = 10


def sweep(specs: list[Spec], data: Dataset, plan: Plan, show_progress: bool = True,
          workers: Workers = Workers()) -> tuple[pd.DataFrame, dict]:
    """One row per (model, lr): accuracy mean ± std over seeds for each side, the largest accuracy gap, a verdict.

    Returns the table and the curves {(model, lr): {"numpy": [[acc per epoch] per seed], "torch": ...}} for plots.
    The runs are independent; `workers` spreads them over processes or a dask cluster, with the same results.
    """
    check_fit(specs, data)
    groups: dict[tuple[str, float], list] = {}
    for spec, results in zip(specs, run_all(specs, data, plan, workers, show_progress, desc="sweep")):
        groups.setdefault((spec.name, spec.lr), []).append(results)
    rows, curves = [], {}
    for (model, lr), runs in groups.items():
        runs_curves = [next(r for r in results if r.name == "curves").curve for results in runs]
        numpy_final = [c.candidate[-1] for c in runs_curves]
        torch_final = [c.torch[-1] for c in runs_curves]
        gap = max(abs(a - b) for c in runs_curves for a, b in zip(c.candidate, c.torch))
        failed = [r for results in runs for r in results if not r.passed and r.scored]
        chaotic = any(r.chaotic_epochs for results in runs for r in results)
        rows.append({
            "MODEL": model, "LR": lr,
            "NumPy ACC": _mean_std(numpy_final), "torch ACC": _mean_std(torch_final),
            "max |Δacc| (pp)": round(gap * 100, 2),
            "verdict": f"FAIL ({failed[0].name})" if failed else "PASS (chaotic)" if chaotic else "PASS",
            "_acc": float(np.mean(numpy_final)),
        })
        curves[(model, lr)] = {"numpy": [c.candidate for c in runs_curves], "torch": [c.torch for c in runs_curves]}
    table = pd.DataFrame(rows).sort_values(["MODEL", "_acc"], ascending=[True, False]).drop(columns="_acc")
    return table.reset_index(drop=True), curves


def _mean_std(values: list[float]) -> str:
    """The lab's format: mean% +- std (population std, as np.std)."""
    return f"{np.mean(values) * 100:2.1f}% ± {np.std(values) * 100:.1f}"

