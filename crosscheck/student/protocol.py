"""Frames between the harness and the sandboxed worker: a JSON header and raw float64 arrays. Nothing is pickled.

frame = b"XCK1" | uint64 LE header length | UTF-8 JSON header | payload
The header's "arrays" lists each array's shape; the payload is their little-endian float64 bytes, back to back.
The reader checks the magic, bounds every size before reading it, and rebuilds arrays with np.frombuffer, so a
hostile peer can send wrong numbers (which the checks then catch) but never code. NumPy and the stdlib only.
"""

from __future__ import annotations

import json
import math
import os
import select
import struct
import time
from typing import Any, Callable

import numpy as np

MAGIC = b"XCK1"
_PREFIX = struct.Struct("<4sQ")
MAX_HEADER = 1 << 20
MAX_PAYLOAD = 1 << 31
MAX_NDIM = 4


class ChannelClosed(Exception):
    """The peer closed its end (it exited or died)."""


class ChannelTimeout(Exception):
    """No complete frame within the deadline."""


class ProtocolError(Exception):
    """A malformed frame."""


def encode(header: dict[str, Any], arrays: list[np.ndarray] = ()) -> bytes:
    arrays = [np.ascontiguousarray(a, dtype="<f8") for a in arrays]
    body = json.dumps(dict(header, arrays=[list(a.shape) for a in arrays]), allow_nan=False).encode()
    return _PREFIX.pack(MAGIC, len(body)) + body + b"".join(a.tobytes() for a in arrays)


def _shapes(header: Any) -> list[tuple[int, ...]]:
    if not isinstance(header, dict) or not isinstance(header.get("arrays", []), list):
        raise ProtocolError("the header is not a JSON object with an 'arrays' list")
    shapes = []
    for shape in header.get("arrays", []):
        if (not isinstance(shape, list) or len(shape) > MAX_NDIM
                or not all(isinstance(n, int) and not isinstance(n, bool) and 0 <= n < 2**31 for n in shape)):
            raise ProtocolError(f"bad array shape in header: {str(shape)[:80]}")
        shapes.append(tuple(shape))
    return shapes


class Channel:
    """One direction in, one out, over raw file descriptors; optional deadlines (time.monotonic() seconds)."""

    def __init__(self, read_fd: int, write_fd: int, alive: Callable[[], bool] | None = None,
                 max_payload: int = MAX_PAYLOAD):
        self.read_fd, self.write_fd, self.alive, self.max_payload = read_fd, write_fd, alive, max_payload

    def _wait(self, fd: int, for_write: bool, deadline: float | None) -> None:
        while True:
            timeout = None if deadline is None else deadline - time.monotonic()
            if timeout is not None and timeout <= 0:
                raise ChannelTimeout()
            step = 0.2 if self.alive is not None else timeout  # poll the peer's liveness meanwhile
            if step is not None and timeout is not None:
                step = min(step, timeout)
            ready = select.select([], [fd], [], step) if for_write else select.select([fd], [], [], step)
            if ready[1 if for_write else 0]:
                return
            if self.alive is not None and not self.alive():
                raise ChannelClosed()

    def _read_exact(self, n: int, deadline: float | None) -> bytes:
        chunks, got = [], 0
        while got < n:
            if deadline is not None or self.alive is not None:
                self._wait(self.read_fd, False, deadline)
            try:
                chunk = os.read(self.read_fd, min(n - got, 1 << 20))
            except BlockingIOError:
                continue
            except OSError as error:
                raise ChannelClosed() from error
            if not chunk:
                raise ChannelClosed()
            chunks.append(chunk)
            got += len(chunk)
        return b"".join(chunks)

    def send(self, header: dict[str, Any], arrays: list[np.ndarray] = (), deadline: float | None = None) -> None:
        view = memoryview(encode(header, arrays))
        while view:
            if deadline is not None or self.alive is not None:
                self._wait(self.write_fd, True, deadline)
            try:
                n = os.write(self.write_fd, view[: 1 << 20])
            except BlockingIOError:
                continue
            except OSError as error:  # EPIPE: the peer is gone
                raise ChannelClosed() from error
            view = view[n:]

    def recv(self, deadline: float | None = None, max_payload: int | None = None
             ) -> tuple[dict[str, Any], list[np.ndarray]]:
        """The next frame; max_payload (bytes) caps this one below the channel's own limit."""
        magic, length = _PREFIX.unpack(self._read_exact(_PREFIX.size, deadline))
        if magic != MAGIC or length > MAX_HEADER:
            raise ProtocolError("not a frame (bad magic or oversized header)")
        try:
            header = json.loads(self._read_exact(length, deadline).decode("utf-8"))
        except (ValueError, RecursionError) as error:  # bad UTF-8 or JSON, a 5000-digit int, [[[[...]]]] nesting
            raise ProtocolError(f"the header is not JSON: {type(error).__name__}") from None
        shapes = _shapes(header)
        sizes = [math.prod(s) * 8 for s in shapes]
        limit = self.max_payload if max_payload is None else min(max_payload, self.max_payload)
        if sum(sizes) > limit:
            raise ProtocolError(f"payload of {sum(sizes)} bytes exceeds the {limit} expected")
        payload = self._read_exact(sum(sizes), deadline) if sizes else b""
        arrays, offset = [], 0
        for shape, size in zip(shapes, sizes):
            arrays.append(np.frombuffer(payload, dtype="<f8", count=size // 8, offset=offset)
                          .reshape(shape).astype(np.float64, copy=True))
            offset += size
        return header, arrays
