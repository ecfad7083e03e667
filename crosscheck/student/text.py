"""The student's text made safe to show, and StudentError, which carries it to a verdict.

Nothing here imports torch: the sandboxed worker uses it too.
"""

from __future__ import annotations

import re
import traceback
from pathlib import Path

from crosscheck.results import CandidateError
from crosscheck.student import notebook_source

_TERMINAL_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # ANSI colour / cursor codes (tqdm, rich)


def printable(text: str, lines: bool = True) -> str:
    """Student text made safe to print, encode and store: lone surrogates and control characters (ESC, CR, ...)
    shown as escapes, colour codes dropped, so no message can fail to print or redraw the terminal into a PASS.
    lines=False escapes newlines too: a one-line message cannot start a fake report line."""
    text = _TERMINAL_CODES.sub("", str(text).encode("utf-8", "backslashreplace").decode("utf-8"))
    keep = "\n\t" if lines else "\t"
    return "".join(c if c in keep or c.isprintable() else ascii(c)[1:-1] for c in text)


class StudentError(CandidateError):
    """The student's code failed or returned something unusable; the message says what and where."""

    def __init__(self, message: str, layer: int | None = None, param: str | None = None):
        super().__init__(printable(message, lines=False), layer, param)


def describe(error: BaseException, what: str, origin: Path | None = None) -> str:
    """One line for a verdict: what the student's code did, with its own file:line when we can find it."""
    if isinstance(error, SystemExit):
        return f"{what} called sys.exit({error.code!r}): a submission must not exit the process"
    text = str(notebook_source.explain_name_error(error) or error).strip().replace("\n", " ")
    text = text[:300] + ("..." if len(text) > 300 else "")
    return f"{what} raised {type(error).__name__}" + (f": {text}" if text else "") + _where(error, origin)


def _where(error: BaseException, origin: Path | None) -> str:
    """' (at file.py:42 in backprop: `code`)' for the innermost frame in the student's folder, if any."""
    if origin is None or error.__traceback__ is None:
        return ""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if _inside(f.filename, origin)]
    if not frames:
        return ""
    f = frames[-1]
    code = f" `{f.line.strip()[:120]}`" if f.line else ""
    return f" (at {notebook_source.frame_place(f.filename, f.lineno)} in {f.name}:{code})"


def _inside(filename: str, folder: Path) -> bool:
    try:
        return Path(filename).resolve().is_relative_to(folder)
    except (OSError, ValueError):
        return False
