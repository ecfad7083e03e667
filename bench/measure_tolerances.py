"""Measure how closely the NumPy reference and torch agree, per check, over every preset and learning rate.

The numbers behind crosscheck.tolerances (TOL, AUGMENT_TOL): each tolerance sits well above the worst value printed
here, and far below the 1e-3 a real bug shows at. Every cell is recorded, passing or failing, and every lockstep
step's gradients and parameter steps, not only the first failure's: a failing cell is printed, so the worst
measured value can exceed its tolerance and show it. Scaled error = max |numpy - torch| / max |torch| per tensor
(the form the tolerances take; for updates, of the step Δp = p_after - p_before against torch.optim's step on the
NumPy gradients, as the lockstep compares it).
Run: python bench/measure_tolerances.py [--quick] [--data auto] [--head mse|ce|bce] [--hidden sigmoid|relu|tanh]
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd

from crosscheck.checks import Plan, Run, run_stages
from crosscheck.data import load
from crosscheck.sides import NumpySide
from crosscheck.spec import HEADS, HIDDEN_ACTIVATIONS, MODELS, preset
from crosscheck.sweep import LAB_LRS
from crosscheck.threads import single_threaded
from crosscheck.tolerances import AUGMENT_TOL, TOL


def scaled(got: list[np.ndarray], want: list[np.ndarray]) -> float:
    return max(float(np.max(np.abs(g - w))) / max(float(np.max(np.abs(w))), np.finfo(float).tiny)
               for g, w in zip(got, want))


def cell(spec, data, plan: Plan, make_candidate=NumpySide) -> list[dict]:
    """Every check's scaled error for one spec, plus each lockstep step's gradients and steps (pass or fail)."""
    with single_threaded():
        run = Run(spec, data, make_candidate, plan)
        results = run_stages(run, NumpySide.provides)
    rows = [{"check": r.name, "scaled_err": r.scaled_err, "passed": r.passed} for r in results
            if r.scaled_err is not None and r.name not in ("gradients", "updates")]
    ev = run.evidence
    for step, (gc, gr) in enumerate(zip(ev.grads_candidate, ev.grads_torch)):
        rows.append({"check": "gradients", "scaled_err": scaled(gc, gr), "step": step})
    for step, (pc, pj, p0) in enumerate(zip(ev.params_candidate, ev.params_judge, ev.params_before)):
        rows.append({"check": "updates", "scaled_err": scaled([c - s for c, s in zip(pc, p0)],
                                                              [j - s for j, s in zip(pj, p0)]), "step": step})
    failed = [r for r in results if not r.passed and r.scored]
    for row in rows:
        row.update(model=spec.name, layers=len(spec.layers) - 1, lr=spec.lr,
                   failed=failed[0].name if failed else "")
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two learning rates, one epoch")
    parser.add_argument("--data", default="auto", help="as compare.py's --data (default auto: the default data)")
    parser.add_argument("--models", help="comma-separated model names (default: every preset and task 4's)")
    parser.add_argument("--head", choices=list(HEADS), help="every preset with this output head instead of its own")
    parser.add_argument("--hidden", choices=HIDDEN_ACTIVATIONS[:3], help="every preset with this hidden activation")
    args = parser.parse_args()
    data = load(args.data)
    lrs = [0.01, 10.0] if args.quick else LAB_LRS
    specs = [MODELS[name] for name in MODELS if name != "softmax"] + preset("4")
    if args.models:
        specs = [s for s in specs if s.name in args.models.split(",")]
    changes = {k: v for k, v in (("head", args.head), ("hidden_activation", args.hidden)) if v is not None}
    specs = [s.replace(**changes) for s in specs]
    rows = [row for spec in specs for lr in lrs
            for row in cell(spec.replace(lr=lr, epochs=1 if args.quick else 3), data, Plan(steps=50))]
    table = pd.DataFrame(rows)
    worst = table.loc[table.groupby("check")["scaled_err"].idxmax()].set_index("check")
    tolerances = {**TOL, "augment_images": AUGMENT_TOL}
    worst["tolerance"] = [tolerances[c].rtol if c in tolerances else float("nan") for c in worst.index]
    worst["margin"] = worst["tolerance"] / worst["scaled_err"]
    with pd.option_context("display.width", 160, "display.float_format", "{:.2e}".format):
        print(f"{len(specs)} specs x {len(lrs)} learning rates; data: {data.source}; changes: {changes or 'none'}")
        print(worst[["scaled_err", "model", "layers", "lr", "tolerance", "margin"]].to_string())
        failures = table[table["failed"] != ""].drop_duplicates(["model", "layers", "lr"])
        print(f"\n{len(failures)} failing cells" + (":" if len(failures) else ""))
        if len(failures):
            print(failures[["model", "layers", "lr", "failed"]].to_string(index=False))


if __name__ == "__main__":
    main()
