"""Run a student's class in a separate, limited process and drive it from the harness as a Side.

Isolation, and what it is not:
- the worker (crosscheck/student/worker.py) runs `python -I -u` in its own session and process group, in a fresh
  temporary directory (its cwd, HOME and TMPDIR), with stdin from /dev/null and stdout/stderr captured to a file;
  only the student file's folder and the venv's site-packages are importable; BLAS is single-threaded;
- limits: wall clock per request and for the whole run (enforced here, by SIGKILL to the process group),
  RLIMIT_CPU, RLIMIT_AS (memory) and RLIMIT_FSIZE (set by the worker itself before the student's code runs);
- requests and replies travel over two dedicated pipes as JSON headers + raw float64 (protocol.py); nothing
  from the worker is ever unpickled, and every array is re-checked here (shape, dtype, finiteness) because the
  student's code shares the worker's process and may have patched NumPy or our adapter there;
- the reference (torch) lives in this process only, and the report is written by this process after the worker
  is dead, so nothing the student does in its own process can change a verdict into a PASS.
On top of that, isolation.py decides what this machine allows (stated in the report): as root, the worker runs as
an unprivileged user in fresh pid/net/mount namespaces under an init of ours (jail.py), so it can neither see nor
signal the harness, nor outlive the run, nor write the report files; with a copy of the submission's folder when
that user may not read it. Without root, a user namespace gives the namespaces alone; without either, the process
isolation above is all there is, and deliberately hostile code can reach the harness (README, "Untrusted code").
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from crosscheck import layout
from crosscheck.spec import Spec
from crosscheck.student.hparams import lab_kwargs
from crosscheck.student.lab_side import batch_inputs
from crosscheck.student import notebook_source
from crosscheck.student.isolation import ROOT, Isolation, IsolationError, available, copy_submission, make_cgroup
from crosscheck.student.jail import STATUS
from crosscheck.student.nielsen_side import LayoutChoice
from crosscheck.student.protocol import Channel, ChannelClosed, ChannelTimeout, ProtocolError
from crosscheck.student.text import StudentError, printable
from crosscheck.student.tracer import MAX_BYTES as MAX_TRACE_BYTES, Trace
from crosscheck.student.validate import check_array

BOOT = ("import sys; sys.dont_write_bytecode = True; sys.path.insert(0, sys.argv[1]); "
        "from crosscheck.student.jail import main; main(sys.argv[1:])")
OUTPUT_EXCERPT = 4000  # characters of the student's captured output shown in a report
MAX_NOTES = 40  # lines of a notebook's skipped cells shown under the load check


@dataclass(frozen=True)
class Limits:
    call_timeout: float = 60.0  # wall seconds per request (loading the file included)
    total_timeout: float = 600.0  # wall seconds for all the student's code in one run (every worker together)
    cpu_seconds: int = 600  # RLIMIT_CPU
    memory_mb: int = 4096  # RLIMIT_AS; `import torch` alone maps ~3.2 GB of address space
    file_mb: int = 64  # RLIMIT_FSIZE: the captured output and any file the student writes
    processes: int = 8  # RLIMIT_NPROC under the worker's own uid: memory_mb x processes bounds the submission
    sandbox_user: str | None = None  # the worker's user when the harness is root (None: nobody)
    require_isolation: bool = False  # refuse to run (IsolationError) without a separate uid and namespaces


def isolation_for(limits: Limits) -> Isolation:
    """The isolation workers get here; IsolationError when it is not what the limits insist on."""
    isolation = available(limits.sandbox_user)
    if limits.require_isolation and not isolation.strong:
        raise IsolationError(f"--require-isolation: a separate uid with pid/net/mount namespaces is not available "
                             f"here (only: {isolation.describe(limits.memory_mb, limits.processes)})")
    return isolation


def isolation_summary(limits: Limits) -> str:
    """The isolation in force, in words, for the report (raises IsolationError like isolation_for)."""
    return isolation_for(limits).describe(limits.memory_mb, limits.processes)


@dataclass(frozen=True)
class StudentRef:
    """path/to/file.py:Name (or lab.ipynb:Name) as given on the command line."""

    path: Path
    name: str

    @classmethod
    def parse(cls, text: str) -> StudentRef:
        path, sep, name = str(text).rpartition(":")
        if not sep or not path or not name.isidentifier():
            raise ValueError(f"--student expects path/to/file.py:ClassName (or lab.ipynb:ClassName), got {text!r}")
        file = Path(path)
        if not file.is_file():
            raise ValueError(f"--student: no such file: {path}")
        if file.suffix not in (".py", ".ipynb"):
            raise ValueError(f"--student: {path} is not a .py file or a .ipynb notebook")
        if file.suffix == ".ipynb":  # a corrupt notebook is bad input, found before any worker starts
            try:
                notebook_source.read_code_cells(file)
            except ValueError as error:
                raise ValueError(f"--student: {error}") from None
        return cls(file.resolve(), name)

    def __str__(self) -> str:
        return f"{self.path.name}:{self.name}"


def _signal_name(code: int) -> str:
    try:
        return signal.Signals(-code).name
    except ValueError:
        return f"signal {-code}"


class WorkerProcess:
    """One sandboxed worker: spawn, request/reply with deadlines, kill, collect the captured output.
    `deadline` (time.monotonic()) is the run's, shared by its workers; by default this worker's own total.
    `submission` (the student's file) is what the worker will import: see `.submission`."""

    def __init__(self, limits: Limits = Limits(), deadline: float | None = None, submission: Path | None = None):
        self.limits = limits
        self.isolation = isolation_for(limits)
        self.dir = Path(tempfile.mkdtemp(prefix="crosscheck-student-"))
        self.output_path = self.dir / ".output"
        self.dead: str | None = None
        self.output = ""
        self._closed = False
        self._staged: tuple[str, str] | None = None  # (the worker's copy of the student's folder, that folder)
        try:  # while the directory is still ours alone: no one can plant a link in it while we write as root
            self.submission = self._stage(submission) if submission is not None else None
        except StudentError:
            shutil.rmtree(self.dir, ignore_errors=True)
            raise
        self._cgroup = (make_cgroup(self.isolation.cgroup, limits.memory_mb << 20, limits.processes)
                        if self.isolation.cgroup else None)
        self.proc, self._output_fd, self._fds = self._spawn()
        self.channel = Channel(self._fds[1], self._fds[0], alive=lambda: self.proc.poll() is None)
        self.deadline = time.monotonic() + limits.total_timeout if deadline is None else deadline

    def _spawn(self) -> tuple[subprocess.Popen, int, tuple[int, int, int]]:
        """The worker process; our descriptors of its capture, and of the request, reply and status pipes."""
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        status_r, status_w = os.pipe()  # the worker's exit status, from its init (in namespaces only)
        pass_fds = (req_r, rep_w, status_w) if self.isolation.prefix else (req_r, rep_w)
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(self.dir), "TMPDIR": str(self.dir),
               "LANG": "C.UTF-8", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
               "MPLBACKEND": "Agg"}
        command = [*self.isolation.prefix, sys.executable, "-I", "-u", "-c", BOOT, str(ROOT), str(req_r), str(rep_w),
                   json.dumps(self._worker_limits()), json.dumps(self.isolation.jail(status_w, self._cgroup))]
        with open(self.output_path, "wb") as out:
            # our own descriptor of the capture: the student may unlink or replace the path, never this file
            output_fd = os.open(self.output_path, os.O_RDONLY)
            if self.isolation.uid is not None:  # the worker's from now on; nothing is created in it as root after
                os.chown(self.dir, self.isolation.uid, self.isolation.gid)
            proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                    cwd=self.dir, env=env, pass_fds=pass_fds, start_new_session=True)
        os.close(req_r), os.close(rep_w), os.close(status_w)
        os.set_blocking(req_w, False), os.set_blocking(rep_r, False), os.set_blocking(status_r, False)
        return proc, output_fd, (req_w, rep_r, status_r)

    def _worker_limits(self) -> dict[str, int]:
        limits = {"memory_bytes": self.limits.memory_mb << 20, "cpu_seconds": self.limits.cpu_seconds,
                  "file_bytes": self.limits.file_mb << 20}
        if self.isolation.uid is not None:  # counted per uid: only a uid of the submission's own makes it a bound
            limits["processes"] = self.limits.processes
        return limits

    def _stage(self, path: Path) -> Path:
        """The student's file as the worker will import it: under a uid of its own, from a copy of its folder."""
        if self.isolation.uid is None:
            return path
        copy = self.dir / "submission"
        try:
            staged = copy_submission(path, copy, self.isolation.uid, self.isolation.gid)
        except (ValueError, OSError) as error:
            raise StudentError(f"could not copy the submission for the sandboxed worker: {error}") from None
        self._staged = (str(copy), str(path.parent))
        return staged

    def _unstaged(self, text: str) -> str:
        """Messages and output name the student's own folder, not the worker's copy of it."""
        return text.replace(*self._staged) if self._staged else text

    def request(self, header: dict[str, Any], arrays: list[np.ndarray], what: str, reply_bytes: int = 0
                ) -> tuple[dict[str, Any], list[np.ndarray]]:
        """The reply, or StudentError with the reason (timeout, death, exit, malformed reply, an error reply).
        A reply carrying more than reply_bytes of arrays is malformed: the worker cannot make us allocate more."""
        if self.dead:
            raise StudentError(self.dead)
        call_deadline = time.monotonic() + self.limits.call_timeout
        deadline = min(call_deadline, self.deadline)
        try:
            self.channel.send(header, arrays, deadline)
            reply, out = self.channel.recv(deadline, reply_bytes)
        except ChannelTimeout:
            limit = (f"the {self.limits.total_timeout:g} s the student's code gets in all" if deadline < call_deadline
                     else f"{self.limits.call_timeout:g} s")
            self._die(f"{what} did not finish within {limit} (an endless loop, or far too slow?); the student's "
                      f"process was killed")
        except ChannelClosed:
            self._die(self._exit_reason(what))
        except ProtocolError as error:
            self._die(f"the student's process sent a malformed reply during {what} ({error}); it was killed")
        if not isinstance(reply.get("ok"), bool):
            self._die(f"the student's process sent a malformed reply during {what}; it was killed")
        if not reply["ok"]:
            layer, param = reply.get("layer"), reply.get("param")
            raise StudentError(self._unstaged(str(reply.get("error")))[:2000],
                               layer if type(layer) is int and 0 <= layer < 1000 else None,
                               param if param in ("weight", "bias", "output") else None)
        return reply, out

    def _exit_code(self) -> int | None:
        """The worker's exit code (negative: the signal), None if it is still running. In namespaces the worker is
        not our child: its init reports the code on the status pipe before it exits."""
        try:
            code = self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            return None
        try:
            raw = os.read(self._fds[2], STATUS.size)
        except OSError:
            raw = b""
        return STATUS.unpack(raw)[0] if len(raw) == STATUS.size else code

    def _exit_reason(self, what: str) -> str:
        code = self._exit_code()
        if code is None:
            return f"the student's process closed its channel during {what}; it was killed"
        if code == 0:
            return (f"the student's process exited with code 0 during {what}, before answering: a submission "
                    f"must not call sys.exit() / os._exit() / quit()")
        if code < 0:
            name = _signal_name(code)
            extra = {"SIGXCPU": f" (over the {self.limits.cpu_seconds} s CPU-time limit)",
                     "SIGKILL": " (killed: over a resource limit?)", "SIGSEGV": " (a crash in native code)"}
            return f"the student's process died with {name} during {what}{extra.get(name, '')}"
        tail = self._peek_output()
        memory = (f" (over the {self.limits.memory_mb} MB memory limit)" if "MemoryError" in tail
                  else "")
        return f"the student's process exited with code {code} during {what}{memory}"

    def _peek_output(self) -> str:
        try:
            size = os.fstat(self._output_fd).st_size
            return os.pread(self._output_fd, 4000, max(0, size - 4000)).decode("utf-8", "replace")
        except OSError:
            return ""

    def _die(self, reason: str) -> None:
        self.dead = reason
        self.kill()
        raise StudentError(reason)

    def kill(self) -> None:
        try:  # even when the worker has exited: the student's children may still be in its group
            os.killpg(self.proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            self.proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass

    def close(self) -> str:
        """Kill the process group, read the captured output, remove the directory; returns the output excerpt."""
        if self._closed:
            return self.output
        self._closed = True
        self.kill()
        _kill_session(self.proc.pid)
        self.output = self._unstaged(read_excerpt(self._output_fd))
        for fd in (*self._fds, self._output_fd):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self.dir, ignore_errors=True)
        if self._cgroup:
            try:
                os.rmdir(self._cgroup)
            except OSError:
                pass
        return self.output

    def __del__(self) -> None:  # a safety net; callers close() explicitly
        try:
            self.close()
        except Exception:  # noqa: BLE001
            pass


def _kill_session(sid: int) -> None:
    """SIGKILL every process still in the worker's session: children that left its process group (setpgid)."""
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
            if int(fields[3]) == sid:
                os.kill(int(stat.parent.name), signal.SIGKILL)
        except (OSError, ValueError, IndexError):
            continue


def read_excerpt(fd: int, limit: int = OUTPUT_EXCERPT) -> str:
    """The start of a capture (read through our own descriptor, at most 2 x limit bytes), control characters made
    visible, carriage-return redraws split into lines."""
    try:
        size = os.fstat(fd).st_size
        raw = os.pread(fd, limit * 2, 0)
    except OSError:
        return ""
    text = printable(raw.decode("utf-8", "replace").replace("\r\n", "\n").replace("\r", "\n"))
    lines = [line for line in text.split("\n") if line.strip()]
    out = "\n".join(lines)[:limit]
    if len(out) < len("\n".join(lines)) or size > len(raw):
        out += f"\n[... output truncated; {size} bytes in all]"
    return out


class SandboxSide:
    """A harness Side whose student's object lives in a WorkerProcess; every method may raise StudentError."""

    label = "student"

    def __init__(self, spec: Spec, init: list[np.ndarray], student: StudentRef, limits: Limits = Limits(),
                 deadline: float | None = None, choice: LayoutChoice = LayoutChoice()):
        self.spec, self.student = spec, student
        self.shapes = [tuple(p.shape) for p in init]
        self.param_bytes = sum(p.nbytes for p in init)
        self._params: list[np.ndarray] | None = [p.copy() for p in init]
        self.worker = WorkerProcess(limits, deadline, student.path)
        required, optional = lab_kwargs(spec)
        header = {"op": "load", "kind": "class", "path": str(student.path), "name": student.name,
                  "spec": spec.to_dict(), "required": required, "optional": optional, "layout": choice.name,
                  "n": choice.n}
        self.info, self.layout = _load(self.worker, header, init, student)

    def _grads_or_params(self, arrays: list[np.ndarray], what: str, finite: bool = True) -> list[np.ndarray]:
        if len(arrays) != len(self.shapes):
            raise StudentError(f"{what}: expected {len(self.shapes)} arrays from the student's process, got "
                               f"{len(arrays)}")
        return [check_array(a, s, f"{what}[{i}]", layout.label(i).layer, layout.label(i).param, finite)
                for i, (a, s) in enumerate(zip(arrays, self.shapes))]

    def params(self) -> list[np.ndarray]:
        if self._params is None:
            out = self.worker.request({"op": "params"}, [], "reading the parameters", self.param_bytes)[1]
            self._params = self._grads_or_params(out, "parameters")
        return [p.copy() for p in self._params]

    def set_params(self, params: list[np.ndarray]) -> None:
        self.worker.request({"op": "set_params"}, list(params), "setting self.weights and self.biases")
        self._params = [np.array(p, dtype=np.float64, copy=True) for p in params]

    def predict(self, x: np.ndarray) -> np.ndarray:
        out = self.worker.request({"op": "predict"}, [x], "feedforward", len(x) * self.spec.layers[-1] * 8)[1]
        if len(out) != 1:
            raise StudentError("feedforward: malformed reply from the student's process")
        return check_array(out[0], (len(x), self.spec.layers[-1]), "feedforward(x)", None, "output", finite=False)

    def loss_and_grads(self, batch: Any) -> tuple[None, list[np.ndarray]]:
        out = self.worker.request({"op": "grads"}, [batch_inputs(batch), batch.y], "backprop", self.param_bytes)[1]
        return None, self._grads_or_params(out, "gradients")

    def step(self, batch: Any) -> None:
        eta = getattr(batch, "lr", None) or self.spec.lr
        out = self.worker.request({"op": "step", "eta": float(eta)}, [batch_inputs(batch), batch.y],
                                  "update_mini_batch", self.param_bytes)[1]
        self._params = self._grads_or_params(out, "parameters after update_mini_batch")
        return None

    def replay_step(self, batch: Any) -> tuple[list[np.ndarray], list[np.ndarray], bool]:
        """backprop, then update_mini_batch from the same random state (see LabSide.replay_update)."""
        reply, out = self.worker.request({"op": "replay_step"}, [batch_inputs(batch), batch.y],
                                         "backprop and update_mini_batch", 2 * self.param_bytes)
        n = len(self.shapes)
        if len(out) != 2 * n:
            raise StudentError(f"backprop and update_mini_batch: expected {2 * n} arrays from the student's process, "
                               f"got {len(out)}")
        self._params = self._grads_or_params(out[n:], "parameters after update_mini_batch")
        return self._grads_or_params(out[:n], "gradients"), list(self._params), reply.get("replays") is True

    def trace(self, method: str, params: list[np.ndarray], x: np.ndarray, y: np.ndarray | None,
              shapes: set[tuple[int, ...]], lr: float | None = None) -> Trace:
        """The worker's trace of `method` at these parameters (see tracer.py); StudentError if the worker fails,
        ValueError if what it sent is not a trace."""
        arrays = [*params, x] + ([] if y is None else [y])
        header = {"op": "trace", "method": method, "shapes": sorted(map(list, shapes)), "lr": lr}
        reply, out = self.worker.request(header, arrays, f"{method} (traced)", MAX_TRACE_BYTES)
        return Trace.from_wire(reply.get("trace"), out)

    def close(self) -> str:
        return self.worker.close()


class SandboxFunction:
    """Task 0: the student's softmax function, called in a WorkerProcess."""

    def __init__(self, student: StudentRef, limits: Limits = Limits(), deadline: float | None = None):
        self.student = student
        self.worker = WorkerProcess(limits, deadline, student.path)
        header = {"op": "load", "kind": "function", "path": str(student.path), "name": student.name}
        self.info = _load(self.worker, header, [], student)[0]

    def __call__(self, z: np.ndarray) -> np.ndarray:
        out = self.worker.request({"op": "call"}, [z], self.student.name, z.size * 8)[1]
        if len(out) != 1:
            raise StudentError(f"{self.student.name}: malformed reply from the student's process")
        return check_array(out[0], z.shape, f"{self.student.name}(z)", finite=False)

    def close(self) -> str:
        return self.worker.close()


def _load(worker: WorkerProcess, header: dict, init: list[np.ndarray], student: StudentRef) -> tuple[str, str]:
    """(info, layout) from the load request; on failure the worker is closed and its captured output rides on the
    error. A notebook's skipped cells come back as lines under the info, and the layout the class is driven in with
    why; each escaped and bounded here (the worker is not trusted)."""
    try:
        header = dict(header, path=str(worker.submission))
        reply = worker.request(header, init, f"loading {student}")[0]
        notes = reply.get("notes") if isinstance(reply.get("notes"), list) else []
        lines = [printable(str(note), lines=False)[:400] for note in notes[:MAX_NOTES]]
        if len(notes) > MAX_NOTES:
            lines.append(f"... and {len(notes) - MAX_NOTES} more cells")
        layout = printable(str(reply.get("layout", "")), lines=False)[:300]
        return printable(reply.get("info", ""))[:200] + "".join(f"\n  {line}" for line in lines), layout
    except StudentError as error:
        error.output = worker.close()
        raise
    except BaseException:  # a harness-side failure or Ctrl-C: the worker and its directory go too
        worker.close()
        raise
