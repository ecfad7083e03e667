"""What every command shares: exit codes, one-line usage errors, argument types, Specs from the flags, and
`finish`, the one way a command ends (files, then the text, then the exit code)."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any, Callable, Iterable

from crosscheck.spec import Spec, preset

EXIT_PASS, EXIT_MISMATCH, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad flags or input: reported as one line, exit 2."""


def floats(text: str) -> list[float]:
    try:
        return [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {text!r}") from None


def ints(text: str) -> list[int]:
    try:
        return [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}") from None


def positive(text: str) -> int:
    value = ints(text)
    if len(value) != 1 or value[0] < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}")
    return value[0]


def jobs(text: str) -> int:
    value = ints(text)
    if len(value) != 1 or not (value[0] >= 1 or value[0] == -1):
        raise argparse.ArgumentTypeError(f"expected a positive integer or -1, got {text!r}")
    return value[0]


class Parser(argparse.ArgumentParser):
    def error(self, message: str):  # one line, as every other usage error, instead of the usage block
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def specs_from_args(args: argparse.Namespace, default_lrs: list[float] | None = None,
                    default_seeds: list[int] | None = None, default_epochs: int | None = None) -> list[Spec]:
    """The task's presets with the flags applied, one Spec per (model, lr, seed); each command passes its own
    defaults for the flags left out (--quick: 2 epochs, whatever the command's default). Never changes `args`."""
    try:
        specs = preset(args.task, args.model)
    except KeyError as error:
        raise UsageError(error.args[0]) from None
    epochs = args.epochs or (2 if args.quick else default_epochs)
    changes = {k: v for k, v in {"head": args.head, "hidden_activation": args.hidden, "epochs": epochs,
                                 "batch_size": args.batch_size}.items()
               if v is not None}
    if args.layers:
        if len(args.layers) < 2 or args.layers[0] != 784 or args.layers[-1] != 10 or min(args.layers) < 1:
            raise UsageError(f"--layers must start at 784 and end at 10 (MNIST), got {args.layers}")
        changes["layers"] = tuple(args.layers)
    lrs = args.lr or default_lrs
    seeds = args.seeds or default_seeds or [0]
    for flag, values in (("--lr", lrs or []), ("--seeds", seeds)):
        if len(set(values)) != len(values):
            raise UsageError(f"{flag} lists a value twice: {','.join(f'{v:g}' for v in values)}")
    try:  # Spec validates its own values: its ValueError is the user's flag, said in one line
        return _expand(specs, changes, lrs, seeds)
    except ValueError as error:
        raise UsageError(str(error)) from None


def _expand(specs: list[Spec], changes: dict[str, Any], lrs: list[float] | None, seeds: list[int]) -> list[Spec]:
    """Model by model, then lr, then seed: the order of the report's entries and the sweep's rows."""
    out = []
    for spec in specs:
        spec = spec.replace(**changes)
        for lr in lrs or [spec.lr]:
            if not lr > 0:
                raise UsageError(f"learning rates must be positive, got {lr}")
            out += [spec.replace(lr=lr, seed=seed) for seed in seeds]
    return out


def emit(text: str) -> None:
    """Print the report; a reader that went away (`| head`) does not change the exit code, the verdict does."""
    try:
        print(text)
        sys.stdout.flush()
    except BrokenPipeError:
        sys.stdout = open(os.devnull, "w")


Output = tuple[str | None, Callable[[str], None]]  # (a --json/--plot/... path or None, what writes it there)


def finish(outputs: Iterable[Output], text: str, passed: bool) -> int:
    """How every command ends: each requested file written, then the text printed, then the verdict as the exit
    code. Files first: one that cannot be written is exit 2 before any verdict is shown."""
    for path, write in outputs:
        if path:
            write(path)
    emit(text)
    return EXIT_PASS if passed else EXIT_MISMATCH
