"""check(): cross-check a lab-style class from the student's own notebook, in process.

    from crosscheck import check
    check(Task1, task=1)                                  # the Report renders in Jupyter (HTML)
    check(Task2, task=2, l2_factor=1e-4, momentum=0.9)    # hyperparameters by the lab's names
    check(Net, task=3, model="adamw").plot()              # curves, and a heat map of a mismatch

The class runs inside this process, so anything a notebook defines works (classes in __main__, closures,
lambdas), and so does anything it breaks: this is for the student's own code, not for grading submissions
(compare.py --student runs those sandboxed). The checks, the first-divergence localisation and the hints are
compare.py --student's; report.to_json() is its JSON.
"""

from __future__ import annotations

import functools
import numbers
from typing import Any

from crosscheck.data import Dataset, load
from crosscheck.report import Report
from crosscheck.spec import HEADS, HIDDEN_ACTIVATIONS, TASKS
from crosscheck.student.runner import STUDENT_EPOCHS, STUDENT_STEPS, StudentUsageError, check_student

OPTIONS = "model, data, epochs, steps, head, hidden, layout, progress"


def check(cls: Any, task: int | str, model: str | None = None, *, data: str | Dataset = "auto",
          epochs: int = STUDENT_EPOCHS, steps: int = STUDENT_STEPS, head: str | None = None,
          hidden: str | None = None, layout: str = "auto", progress: bool = True, **hparams: float) -> Report:
    """Check `cls` (task 0: a softmax function) against torch on one model of `task`; returns the Report.

    model: the task's model, needed when it has several (task 3: adamw, adagrad, ...).
    data: "auto", "embedded", "download", an MNIST directory (loaded once per process), or a Dataset.
    epochs, steps: the free-running curve's length and the number of lockstep steps compared one by one.
    head: "mse" (sigmoid + MSE), "ce" (softmax + cross-entropy) or "bce" (sigmoid + binary cross-entropy, Nielsen's
    CrossEntropyCost: output error a - y) instead of the preset's.
    hidden: the hidden layers' activation, "sigmoid", "relu" or "tanh", instead of the preset's (sigmoid).
    layout: "auto" (detected), "lab", or "nielsen" for a class in Michael Nielsen's network.py layout ((n_out, n_in)
    weights, column vectors, update_mini_batch(mini_batch, eta); network2's lmbda and n as hyperparameters).
    progress: a progress bar (tqdm.auto: a widget in Jupyter) for runs longer than a couple of seconds.
    **hparams: the constructor's hyperparameters by the lab's names (momentum=0.9, l2_factor=1e-4, ...); both
    the class and torch get them. Raises ValueError (TypeError for a non-number) for a run that cannot be set up:
    the Spec's own SpecError for head, epochs and the hyperparameters' ranges.
    """
    given, task = task, str(task)
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; choose from {', '.join(TASKS)}")
    if model is None and len(TASKS[task]) > 1:
        raise ValueError(f"task {task} has several models ({', '.join(TASKS[task])}); a class implements one: "
                         f"check(cls, task={given!r}, model=...)")
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral) or steps < 1:  # a Plan's, not the Spec's
        raise ValueError(f"steps must be a positive integer, got {steps!r}")
    for name, value in hparams.items():
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{name}={value!r}: hyperparameters are numbers (check()'s own options: {OPTIONS})")
    changes = {k: v for k, v in (("head", head), ("hidden_activation", hidden)) if v is not None}
    try:
        run = check_student(cls, task, model, data=dataset(data), hparams={k: float(v) for k, v in hparams.items()},
                            epochs=epochs, steps=steps, isolate=False, show_progress=progress, layout=layout,
                            **changes)
    except StudentUsageError as error:  # e.g. a hyperparameter the model does not take: the message lists them
        raise ValueError(f"{error}" + (f" (check()'s own options: {OPTIONS})" if hparams else "")) from None
    return run.report


def dataset(data: str | Dataset) -> Dataset:
    return data if isinstance(data, Dataset) else _cached(data)


@functools.cache
def _cached(source: str) -> Dataset:
    return load(source)
