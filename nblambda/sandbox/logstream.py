"""The host's end of a sandbox's log pipe (see ``runtime/logcapture.py``): complete lines, decoded.

Only the host reads the pipe, so nothing the function wrote can be lost with the sandbox: lines are
read live while an invocation runs, the rest when its result arrives or after the sandbox died.
"""
from __future__ import annotations

import os
from typing import Callable

# Lambda cuts a log line longer than 256 KB into several events; a line without an end is kept
# whole only up to that size.
MAX_LINE = 256 * 1024
_READ_LIMIT = 4 << 20  # per call: a child process that never stops writing cannot hold us here


class LogStream:
    def __init__(self, fd: int) -> None:
        os.set_blocking(fd, False)
        self.fd = fd
        self.eof = False
        self._partial = b""
        self._line_open = False  # a line longer than MAX_LINE went out without its end

    def read(self, sink: Callable[[str], None], final: bool = False) -> None:
        """Hand ``sink`` the complete lines available now; with ``final`` (the invocation is over),
        an unterminated last line too, ended with a newline as Lambda ends every log event."""
        chunks, size = [self._partial], 0
        while size < _READ_LIMIT:
            try:
                data = os.read(self.fd, 65536)
            except BlockingIOError:
                break
            except OSError:
                data = b""
            if not data:
                self.eof = True
                break
            chunks.append(data)
            size += len(data)
        data = b"".join(chunks)
        if final:
            text, self._partial = data, b""
            if (text or self._line_open) and not text.endswith(b"\n"):
                text += b"\n"
        else:
            cut = data.rfind(b"\n") + 1
            if len(data) - cut > MAX_LINE:
                cut = len(data)
            text, self._partial = data[:cut], data[cut:]
        if text:
            self._line_open = not text.endswith(b"\n")
            sink(text.decode("utf-8", "replace"))

    def close(self) -> None:
        try:
            os.close(self.fd)
        except OSError:
            pass
