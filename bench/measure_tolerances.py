"""Measure how closely the NumPy reference and torch agree, per check, over every preset and learning rate.

The numbers behind crosscheck.checks.TOL (and AUGMENT_TOL): each tolerance sits at least 10x above the worst value
printed here, and far below the 1e-3 a real bug shows at.
Scaled error = max |numpy - torch| / max |torch| over each tensor (the form the tolerances take).
Run: python bench/measure_tolerances.py [--quick] [--head mse|ce|bce] [--hidden sigmoid|relu|tanh]
"""

from __future__ import annotations

import argparse

import pandas as pd

from crosscheck.checks import TOL, Plan, run_checks
from crosscheck.data import load
from crosscheck.extra_checks import AUGMENT_TOL
from crosscheck.spec import HEADS, HIDDEN_ACTIVATIONS, MODELS, preset
from crosscheck.sweep import LAB_LRS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two learning rates, one epoch")
    parser.add_argument("--data", default="embedded")
    parser.add_argument("--head", choices=HEADS, help="every preset with this output head instead of its own")
    parser.add_argument("--hidden", choices=HIDDEN_ACTIVATIONS, help="every preset with this hidden activation")
    args = parser.parse_args()
    data = load(args.data)
    lrs = [0.01, 10.0] if args.quick else LAB_LRS
    specs = [s for name in MODELS if name != "softmax" for s in [MODELS[name]]] + preset("4")
    changes = {k: v for k, v in (("head", args.head), ("hidden_activation", args.hidden)) if v is not None}
    specs = [s.replace(**changes) for s in specs]
    rows = []
    for spec in specs:
        for lr in lrs:
            for result in run_checks(spec.replace(lr=lr, epochs=1 if args.quick else 3), data, plan=Plan(steps=50)):
                scaled = result.extra.get("scaled_err")
                for check, value in (scaled.items() if isinstance(scaled, dict) else [(result.name, scaled)]):
                    if value is not None:
                        rows.append({"check": check, "model": spec.name, "layers": len(spec.layers) - 1, "lr": lr,
                                     "scaled_err": value, "passed": result.passed})
    table = pd.DataFrame(rows)
    worst = table.loc[table.groupby("check")["scaled_err"].idxmax()].set_index("check")
    tolerances = {**TOL, "augment_images": AUGMENT_TOL}
    worst["tolerance"] = [tolerances[c].rtol if c in tolerances else float("nan") for c in worst.index]
    worst["margin"] = worst["tolerance"] / worst["scaled_err"]
    with pd.option_context("display.width", 160, "display.float_format", "{:.2e}".format):
        print(f"{len(specs)} specs x {len(lrs)} learning rates; data: {data.source}; changes: {changes or 'none'}")
        print(worst[["scaled_err", "model", "layers", "lr", "tolerance", "margin"]].to_string())


if __name__ == "__main__":
    main()
