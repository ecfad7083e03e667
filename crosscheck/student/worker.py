"""The sandboxed child: loads the student's file and serves the harness's requests through LabSide.

Started by crosscheck.student.sandbox as `python -I -c BOOT ROOT REQ_FD REP_FD LIMITS_JSON JAIL_JSON` in a fresh
session, in a temporary working directory, stdin from /dev/null and stdout/stderr into a capture file; jail.py has
already put it in its namespaces and under its own uid where the harness asked for that. It sets its own
resource limits before any student code runs, imports NumPy and this package only (never torch), removes the
project root from sys.path, then puts the student file's folder first on it.

Requests: load, params, set_params, predict, grads, step, call (task 0's function), each answered with
{"ok": true, ...} + arrays, or {"ok": false, "error": ..., "layer": ..., "param": ...}.
"""

from __future__ import annotations

import json
import resource
import signal
import sys
from pathlib import Path
from typing import Any

import numpy as np

from crosscheck.spec import Spec
from crosscheck.student import loader, notebook_source
from crosscheck.student.lab_side import LabSide
from crosscheck.student.nielsen_side import LayoutChoice, open_side
from crosscheck.student.loader import call_function, import_student
from crosscheck.student.protocol import Channel, ChannelClosed
from crosscheck.student.text import StudentError


def limit_resources(limits: dict[str, Any]) -> None:
    """Soft = hard, so the student's code cannot raise them back (short of privileges it should not have)."""
    for name, key in (("RLIMIT_AS", "memory_bytes"), ("RLIMIT_CPU", "cpu_seconds"), ("RLIMIT_FSIZE", "file_bytes"),
                      ("RLIMIT_NPROC", "processes")):
        value = limits.get(key)
        if value:
            value = int(value)
            hard = value + 2 if name == "RLIMIT_CPU" else value  # SIGXCPU at the soft limit, SIGKILL 2 s later
            resource.setrlimit(getattr(resource, name), (value, hard))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # an oversized write fails with EFBIG instead of killing us


class Worker:
    def __init__(self) -> None:
        self.side: LabSide | None = None
        self.function: Any = None
        self.name = ""
        self.origin: Path | None = None

    def handle(self, header: dict[str, Any], arrays: list[np.ndarray]) -> tuple[dict[str, Any], list[np.ndarray]]:
        op = header.get("op")
        if op == "load":
            return self.load(header, arrays)
        if op == "call":
            if self.function is None:
                raise RuntimeError("no function loaded")
            return {"ok": True}, [call_function(self.function, arrays[0], self.name, self.origin)]
        side = self.side
        if side is None:
            raise RuntimeError(f"request {op!r} before load")
        if op == "params":
            return {"ok": True}, side._params("reading the parameters")
        if op == "set_params":
            side.set_params(arrays)
            return {"ok": True}, []
        if op == "predict":
            return {"ok": True}, [side.predict(arrays[0])]
        if op == "grads":
            return {"ok": True}, side.gradients(arrays[0], arrays[1])
        if op == "step":
            return {"ok": True}, side.update(arrays[0], arrays[1], header.get("eta"))
        if op == "trace":
            n = len(side.shapes)
            shapes = {tuple(int(d) for d in shape) for shape in header.get("shapes", [])}
            x, y = arrays[n], arrays[n + 1] if len(arrays) > n + 1 else None
            lr = header.get("lr")
            trace_header, trace_arrays = side.trace(str(header.get("method")), arrays[:n], x, y, shapes,
                                                    None if lr is None else float(lr)).to_wire()
            return {"ok": True, "trace": trace_header}, trace_arrays
        if op == "replay_step":
            grads, params, replays = side.replay_update(arrays[0], arrays[1])
            return {"ok": True, "replays": replays}, grads + params
        raise RuntimeError(f"unknown request {op!r}")

    def load(self, header: dict[str, Any], init: list[np.ndarray]) -> tuple[dict[str, Any], list[np.ndarray]]:
        obj, self.origin = import_student(Path(header["path"]), header["name"])
        self.name = header["name"]
        notes = notebook_source.skipped_report(obj)  # a notebook's skipped cells, one line each
        if header["kind"] == "function":
            self.function = obj
            if not callable(obj):
                raise StudentError(f"{self.name!r} is a {type(obj).__name__}, expected a function")
            return {"ok": True, "info": f"function {self.name}", "notes": notes}, []
        spec = Spec.from_dict(header["spec"])
        choice = LayoutChoice(header["layout"], header["n"])
        self.side = open_side(spec, init, obj, (header["required"], header["optional"]), self.origin, choice)
        return {"ok": True, "info": self.side.constructed, "layout": self.side.layout, "notes": notes}, []


def main(argv: list[str]) -> None:
    root, read_fd, write_fd, limits = argv[0], int(argv[1]), int(argv[2]), json.loads(argv[3])
    limit_resources(limits)
    loader.IN_WORKER = True
    sys.path[:] = [p for p in sys.path if p and Path(p).resolve() != Path(root).resolve()]
    channel, worker = Channel(read_fd, write_fd), Worker()
    while True:
        try:
            header, arrays = channel.recv()
        except ChannelClosed:
            return
        try:
            reply, out = worker.handle(header, arrays)
        except StudentError as error:
            reply, out = {"ok": False, "error": str(error), "layer": error.layer, "param": error.param}, []
        except BaseException as error:  # noqa: BLE001 - the harness must always get an answer
            reply, out = {"ok": False, "error": f"worker error: {type(error).__name__}: {error}"[:500],
                          "internal": True}, []
        channel.send(reply, out)
