"""Report files written whole or not at all, and checked before a run: one module that report, plot and
gradescope all write through, so none of them imports another for it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


class OutputError(Exception):
    """A report file cannot be written (a directory or an unwritable place at its path): one line, exit 2."""


def check_writable(path: str | Path) -> None:
    """Before a run: the report's folder exists and the path is not a directory (an OutputError, exit 2)."""
    path = Path(path)
    if path.is_dir() and not path.is_symlink():
        raise OutputError(f"cannot write {path}: it is a directory")
    if not path.parent.is_dir():
        raise OutputError(f"cannot write {path}: no such directory {path.parent}")


def write_file(path: str | Path, content: str | bytes) -> None:
    """Write whole or not at all: a temporary file beside `path`, then renamed over it. Whatever sits at the path
    (an old report, a FIFO, a symlink) is replaced, never opened; a directory there is an OutputError."""
    path = Path(path)
    data = content.encode() if isinstance(content, str) else content
    try:
        fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.chmod(temporary, 0o644)
            os.replace(temporary, path)
        except BaseException:
            os.unlink(temporary)
            raise
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
