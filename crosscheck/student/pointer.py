"""Name the line: after a student's forward, gradients or updates check (or the optimizer row) fails on a value
mismatch, run the failing call once more under the line tracer, in a fresh worker (the checks' own workers are never
touched; an update first replays the class's own earlier steps, for its optimizer's state), and point at the line
where the failing value first went wrong (crosscheck.blame). It runs only after a failure, and nothing it meets
changes a verdict: a trace that cannot be had (the worker dies or hangs, the code installs its own tracer, the trace
is malformed) leaves the FAIL as it is, with a note saying why no line is named.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from crosscheck import layout
from crosscheck.blame import locate
from crosscheck.checks import FailingCall, Run
from crosscheck.intermediates import Intermediate, functions, intermediates, update_intermediates
from crosscheck.results import CandidateError, CheckResult
from crosscheck.sides import Batch
from crosscheck.spec import Spec
from crosscheck.student.lab_side import batch_inputs

METHOD = {"forward": "feedforward", "gradients": "backprop", "updates": "update_mini_batch",
          "optimizer": "update_mini_batch"}


def point(results: list[CheckResult], run: Run) -> None:
    """The first scored failure, if it is a value mismatch of feedforward, backprop or update_mini_batch, gets its
    `source` (or a `source_note` saying why none); so does the optimizer row, a second bug's."""
    failed = next((r for r in results if r.scored and not r.passed), None)
    if failed is not None:
        _point_at(failed, run.evidence.failing_call, run)
    optimizer = next((r for r in results if r.name == "optimizer" and not r.passed and r is not failed), None)
    if optimizer is not None and run.optimizer_evidence is not None:
        _point_at(optimizer, run.optimizer_evidence.failing_call, run)


def _point_at(failed: CheckResult, call: FailingCall | None, run: Run) -> None:
    if failed.candidate_error or call is None or METHOD.get(failed.name) != call.method or failed.informational:
        return
    if failed.kind == "convention":  # legitimate, only not torch's: no line is wrong
        return
    if run.spec.dropout:
        failed.source_note = "not traced: the class draws its own dropout noise, which a second run cannot replay"
        return
    try:
        cand = run.make_candidate(run.spec, run.init)
    except CandidateError as error:
        failed.source_note = f"not traced: {error}"
        return
    try:
        failed.source, failed.source_note = trace_and_locate(run.spec, cand, call, failed)
    except CandidateError as error:
        failed.source_note = f"not traced: {error}"
    except ValueError as error:  # a malformed trace from the worker
        failed.source_note = f"not traced: {error}"
    finally:
        close = getattr(cand, "close", None)
        if close is not None:
            close()


def traced_inputs(cand: Any, call: FailingCall) -> tuple[str, np.ndarray, np.ndarray | None]:
    """(the class's layout, the x and y its method is given again): the failing call's, one sample of it for a
    class in Nielsen's layout (per-sample code)."""
    style = (getattr(cand, "layout", "") or "lab").split(" ")[0]
    if call.method == "feedforward":
        x, y = call.x, None
    else:
        x, y = batch_inputs(call.batch), call.batch.y
    if style == "nielsen" and call.method != "update_mini_batch":  # per-sample code: one sample
        x, y = x[:1], None if y is None else y[:1]
    return style, x, y


NIELSEN_UPDATE_SAMPLES = 4  # Nielsen's update runs backprop per sample: a mini-batch of 4 keeps the trace small


def trace_and_locate(spec: Spec, cand: Any, call: FailingCall, failed: CheckResult) -> tuple[Any, str]:
    style, x, y = traced_inputs(cand, call)
    if call.method == "update_mini_batch":
        for params, batch, _ in call.history:  # the optimizer's state: the class's own steps before this one
            cand.set_params(params)
            cand.step(batch)
        lr, grads = call.batch.lr or spec.lr, call.grads
        if style == "nielsen":  # a smaller mini-batch, judged on the class's own gradients for it
            x, y = x[:NIELSEN_UPDATE_SAMPLES], y[:NIELSEN_UPDATE_SAMPLES]
            cand.set_params(call.params)
            grads = cand.loss_and_grads(Batch(x, y, lr=call.batch.lr))[1]
        history = [(params, batch.lr or spec.lr, grads) for params, batch, grads in call.history]
        refs = update_intermediates(spec, history, call.params, grads, lr, style)
    else:
        lr, refs = None, intermediates(spec, call.params, x, y, style)
    shapes = {r.array.shape for r in refs}
    shapes |= {shape for r in refs if r.array.ndim == 2 and min(r.array.shape) > 1  # one sample's row, any form
               for shape in ((r.array.shape[1],), (1, r.array.shape[1]), (r.array.shape[1], 1))}
    trace = cand.trace(call.method, call.params, x, y, shapes, lr)
    wrong, right = _outputs(failed, refs, call.method, len(spec.layers) - 1)
    return locate(trace, refs, wrong, right, functions(), spec.head, len(spec.layers) - 1, len(x), lr or 0.0)


def _outputs(failed: CheckResult, refs: list[Intermediate], method: str, n_layers: int
             ) -> tuple[dict[str, Intermediate], list[str]]:
    """({result path: what it should be} for the failing outputs, [result paths] of the right ones)."""
    by_kind = {(r.kind, r.layer): r for r in refs}
    if method == "feedforward":
        return {"return": by_kind[("a", n_layers - 1)]}, []
    wrong, right = {}, []
    update = method == "update_mini_batch"
    for label in layout.labels(2 * n_layers, prefix="Δ" if update else ""):
        name = "W" if label.param == "weight" else "b"
        if update:  # the parameters the update leaves, against torch.optim's
            path, want = f"self.{'weights' if name == 'W' else 'biases'}[{label.layer}]", (name + "+", label.layer)
        else:
            path, want = f"return[{0 if name == 'b' else 1}][{label.layer}]", ("d" + name, label.layer)
        if str(label) in failed.failing or not failed.failing:
            wrong[path] = by_kind[want]
        else:
            right.append(path)
    return wrong, right
