"""Student mode: check a student's lab-style class (file.py:Class) against torch, in a sandboxed process.

lab_side.py  LabSide: the lab's interface as a harness Side, every value it returns validated (NumPy only)
hparams.py   the lab's hyperparameter names, mapped onto the Spec's torch names (LAB_HPARAMS, --hparam)
loader.py    importing the student's file and calling into it: what it raises becomes a StudentError
validate.py  check_array / check_list: what the student's code returns, checked before any comparison
text.py      printable (the student's text made safe to show), describe, StudentError
protocol.py  JSON + raw float64 frames between harness and worker (never pickle)
worker.py    the sandboxed child process
notebook_source.py  a lab notebook (.ipynb) as a submission: its definitions, without its training cells
sandbox.py   SandboxSide / WorkerProcess: spawn, limits, timeouts, kill, captured output
isolation.py the isolation this machine gives the worker (its own user, namespaces), decided once, stated in reports
jail.py      the worker's first moments: its init, mount namespace and user (stdlib only)
runner.py    check_student / run_student: the checks, a student failure turned into a verdict, the report
(crosscheck/cli/student.py is the command line's --student / --hparam / --timeout / --gradescope;
crosscheck/gradescope.py writes Gradescope's results.json; crosscheck/pytest_plugin.py is the pytest plugin.)

Importing this package imports nothing heavy: the worker runs without torch.
"""

from typing import Any

__all__ = ["check_student", "run_student", "StudentRun", "StudentRef", "Limits"]


def __getattr__(name: str) -> Any:  # lazy: crosscheck.student.runner imports torch
    if name in ("check_student", "run_student", "StudentRun"):
        from crosscheck.student import runner
        return getattr(runner, name)
    if name in ("StudentRef", "Limits"):
        from crosscheck.student import sandbox
        return getattr(sandbox, name)
    raise AttributeError(name)
