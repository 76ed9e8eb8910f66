"""What FFmpeg, inside OpenCV, prints while decoding: captured, not leaked to the terminal.

OpenCV's FFmpeg backend prints decoder errors (``[mpeg1video @ 0x...] ac-tex damaged at 6
15``) straight to file descriptor 2, which Python cannot intercept. :class:`NativeLog`
points descriptor 2 at a temporary file while a capture is open, so the messages become
evidence about the clip (a truncated file ends in a damaged frame) instead of noise in the
user's terminal. Descriptor 2 belongs to the whole process: captures in several threads
share one redirection (the last one to leave restores it), and what Python itself writes
to ``sys.stderr`` meanwhile is captured too, so keep captures around native calls only.
"""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from types import TracebackType

_lock = threading.Lock()
_depth = 0
_saved_fd: int | None = None
_sink = None  # the shared temporary file while any capture is open


class NativeLog:
    """A context manager: while open, native writes to fd 2 go to a shared temporary file;
    :meth:`size` tells whether something was written since a mark, :meth:`text` returns it."""

    def __init__(self) -> None:
        self._start = 0
        self._closed_text: str | None = None

    def __enter__(self) -> NativeLog:
        global _depth, _saved_fd, _sink
        with _lock:
            if _depth == 0:
                try:
                    sys.stderr.flush()
                except (AttributeError, OSError, ValueError):
                    pass
                _sink = tempfile.TemporaryFile()
                _saved_fd = os.dup(2)
                os.dup2(_sink.fileno(), 2)
            _depth += 1
            self._start = self.size()
        return self

    def size(self) -> int:
        """Bytes captured so far (shared by all open captures)."""
        return os.fstat(_sink.fileno()).st_size if _sink is not None else 0

    def text(self, since: int | None = None) -> str:
        """What was captured since ``since`` (default: since this capture was opened);
        after the capture is closed, what it captured."""
        if self._closed_text is not None and since is None:
            return self._closed_text
        if _sink is None:
            return ""
        start = self._start if since is None else since
        with _lock:
            _sink.seek(start)
            data = _sink.read()
        return data.decode("utf-8", errors="replace")

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        global _depth, _saved_fd, _sink
        self._closed_text = self.text()
        with _lock:
            _depth -= 1
            if _depth == 0 and _saved_fd is not None and _sink is not None:
                os.dup2(_saved_fd, 2)
                os.close(_saved_fd)
                _sink.close()
                _saved_fd, _sink = None, None


def first_message(text: str) -> str:
    """The first captured line without FFmpeg's ``[decoder @ 0xADDRESS]`` prefix."""
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        if line.startswith("[") and "] " in line:
            line = line.split("] ", 1)[1]
        return line
    return ""
