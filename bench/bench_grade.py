"""Grading a class: N submissions as one batch against N separate compare.py runs, measured side by side.

For each task (default 1 and 2), N student folders (default 20), each with a lab.py that hands in a correct or a
buggy class from tests/students (every third one buggy), are graded three ways, one after the other:
- separately: `compare.py --task T --student class/sNN/lab.py:Network --json ...` per submission, as a loop over
  submissions does without a batch (imports, data and torch's side paid every time);
- as one batch, serially: `compare.py --task T --student 'class/*/lab.py:Network' --out ...`;
- as one batch over 2 local processes: the same with --jobs 2.
It prints the wall seconds, the ratios to the separate runs (targets: serial <= 0.35, --jobs 2 <= 0.2), the peak
memory of each (every process of a run together: the harness, its local workers and the students' sandboxed
workers; PSS, sampled every 0.1 s), the share of the machine other processes used meanwhile (it is shared), and
checks that every batch report equals its separate run's. Then what sharing
torch's side saves: one spec's crosscheck.checks.Reference, every part computed, timed on its own.
Run: python bench/bench_grade.py [--n 20] [--tasks 1,2] [--data auto]     (~15 min on a quiet 2-core machine)
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from crosscheck.checks import Plan, Reference  # noqa: E402
from crosscheck.data import load  # noqa: E402
from crosscheck.student.runner import STUDENT_STEPS, student_specs  # noqa: E402
from crosscheck.threads import single_threaded  # noqa: E402

STUDENTS = ROOT / "tests" / "students"
SUBMISSIONS = {  # task -> (a correct class, a buggy one) from tests/students, as module:Class
    "1": ("softmax_net:SoftmaxNetwork", "buggy:BatchSumSoftmax"),
    "2": ("momentum_l2:MomentumL2Network", "buggy:L2OnBiases"),
}
TARGETS = {"serial": 0.35, "jobs 2": 0.2}
PEAK_MEMORY_TARGET_MB = 2048


def make_class(folder: Path, task: str, n: int) -> list[str]:
    """n student folders, each the test submissions beside a lab.py that hands in its class as Network."""
    correct, buggy = SUBMISSIONS[task]
    names = []
    for i in range(n):
        module, name = (buggy if i % 3 == 2 else correct).split(":")
        student = folder / "class" / f"s{i:02d}"
        shutil.copytree(STUDENTS, student, ignore=shutil.ignore_patterns("__pycache__"))
        (student / "lab.py").write_text(f"from {module} import {name} as Network\n")
        names.append(student.name)
    return names


class PeakMemory:
    """The peak memory of a process and all its descendants together, sampled every `every` seconds: the sum of
    their PSS (resident pages, each shared page split among the processes sharing it). A sum of RSS would count
    torch's libraries once per process, and a freshly forked child (before its exec) as a second harness."""

    def __init__(self, pid: int, every: float = 0.1):
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._sample, args=(pid, every), daemon=True)
        self._thread.start()

    def _sample(self, pid: int, every: float) -> None:
        try:
            root = psutil.Process(pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop.wait(every):
            try:
                tree = [root, *root.children(recursive=True)]
                self.peak = max(self.peak, sum(p.memory_full_info().pss for p in tree))
            except psutil.NoSuchProcess:  # one ended between listing and reading: skip this sample
                pass

    def stop(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**20


def busy_cpu_seconds() -> float:
    """CPU seconds all CPUs have been busy since boot (/proc/stat; idle and iowait excluded)."""
    with open("/proc/stat") as f:
        ticks = [int(v) for v in f.readline().split()[1:9]]
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")


def children_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)  # every waited-for descendant: workers and students too
    return usage.ru_utime + usage.ru_stime


@dataclass
class Measured:
    seconds: float
    memory_mb: float  # peak PSS of the run's process tree
    others: float  # share of the machine other processes (not this run's) used meanwhile

    def __add__(self, other: Measured) -> Measured:
        """Runs one after the other: the seconds add up, the peak is the larger, the others' share is weighted."""
        seconds = self.seconds + other.seconds
        return Measured(seconds, max(self.memory_mb, other.memory_mb),
                        (self.others * self.seconds + other.others * other.seconds) / seconds)


def compare(args: list[str], cwd: Path) -> Measured:
    """One compare.py run: wall seconds, peak memory, and how busy the rest of the machine was meanwhile."""
    start, busy, ours = time.perf_counter(), busy_cpu_seconds(), children_cpu_seconds()
    process = subprocess.Popen([sys.executable, str(ROOT / "compare.py"), *args], cwd=cwd,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, "PYTHONPATH": str(ROOT)})  # its workers import this checkout
    memory = PeakMemory(process.pid)
    process.wait()
    wall = time.perf_counter() - start
    foreign = (busy_cpu_seconds() - busy) - (children_cpu_seconds() - ours)
    return Measured(wall, memory.stop(), max(0.0, foreign) / (wall * (os.cpu_count() or 1)))


def bench_task(task: str, n: int, data: str, work: Path) -> dict[str, Measured]:
    """Each way measured; exits if a batch report differs from its separate run's."""
    names = make_class(work, task, n)
    common = ["--task", task, "--data", data, "--no-progress"]
    (work / "separate").mkdir()
    runs = [compare([*common, "--student", f"class/{name}/lab.py:Network", "--json", f"separate/{name}.json"], work)
            for name in names]
    out = {"separate": sum(runs[1:], runs[0])}
    for way, extra in (("serial", []), ("jobs 2", ["--jobs", "2"])):
        folder = way.replace(" ", "")
        out[way] = compare([*common, "--student", "class/*/lab.py:Network", "--out", folder, *extra], work)
        for name in names:
            batch = (work / folder / f"{name}__lab.py__Network" / "report.json").read_text()
            if batch != (work / "separate" / f"{name}.json").read_text():
                sys.exit(f"bench_grade.py: task {task}, {way}: {name}'s report differs from its separate run's")
    return out


def reference_seconds(task: str, data_source: str) -> tuple[float, float]:
    """(seconds for torch's side of the task's spec as a student run uses it, seconds for its chaos controls)."""
    data = load(data_source)
    spec = student_specs(task)[0]
    plan = Plan(steps=STUDENT_STEPS, fd_coords=0, report_load=True, probe=True)  # what run_student runs
    with single_threaded():
        start = time.perf_counter()
        reference = Reference(spec, data, plan)
        for part in ("outputs", "first_loss_and_grads", "steps", "probes"):  # each computed on first reading
            getattr(reference, part)
        reference.curve()
        parts = time.perf_counter() - start
        getattr(reference, "chaos_controls")
        return parts, time.perf_counter() - start - parts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--n", type=int, default=20, help="submissions per task (default 20)")
    p.add_argument("--tasks", default="1,2", help="tasks, comma-separated, among 1 and 2 (default 1,2)")
    p.add_argument("--data", default="auto")
    args = p.parse_args(argv)
    tasks = args.tasks.split(",")
    if args.n < 1 or not set(tasks) <= set(SUBMISSIONS):
        p.error(f"--n must be positive and --tasks among {', '.join(SUBMISSIONS)}")
    print(f"{args.n} submissions per task (every third buggy); data: {load(args.data).source}; "
          f"{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.1f} at start")
    print(f"{'task':>4} {'way':>8} {'seconds':>9} {'per sub':>8} {'ratio':>6} {'target':>15} {'peak PSS':>9} "
          f"{'others':>7}")
    for task in tasks:
        with tempfile.TemporaryDirectory(prefix="bench-grade-") as work:
            results = bench_task(task, args.n, args.data, Path(work))
        separate = results["separate"].seconds
        for way, m in results.items():
            ratio, target = m.seconds / separate, TARGETS.get(way)
            verdict = "" if target is None else f"<= {target}" + (" met" if ratio <= target else " NOT met")
            print(f"{task:>4} {way:>8} {m.seconds:8.1f}s {m.seconds / args.n:7.2f}s {ratio:6.2f} {verdict:>15} "
                  f"{m.memory_mb:6.0f} MB {m.others:6.0%}")
        parts, chaos = reference_seconds(task, args.data)
        print(f"     torch's side of task {task}'s spec: {parts:.2f} s per submission (+ {chaos:.2f} s of chaos "
              f"controls where a curve differs); shared, the batch saves {(args.n - 1) * parts:.1f} s of it")
    print(f"every batch report equals its separate run's; peak memory target <= {PEAK_MEMORY_TARGET_MB} MB; "
          f"others: the share of the {os.cpu_count()} CPUs other processes used meanwhile; load average "
          f"{os.getloadavg()[0]:.1f} at end")
    return 0


if __name__ == "__main__":
    sys.exit(main())
