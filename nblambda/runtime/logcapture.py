"""Everything the function writes to fds 1 and 2 (print, logging, C code, child processes) streams
to the host as log frames, line by line, while the handler runs.

A pipe replaces fds 1 and 2; a reader thread forwards complete lines. At the end of an invocation
the main thread drains the pipe under the same lock before it sends the result, so every line written
during the invocation arrives before its result and none leaks into the next one.
"""
import io
import os
import select
import sys
import threading


class LogCapture:
    def __init__(self, channel, lock):
        self.channel = channel
        self.lock = lock
        self.partial = b""
        read_fd, write_fd = os.pipe()
        os.set_blocking(read_fd, False)
        os.dup2(write_fd, 1)
        os.dup2(write_fd, 2)
        os.close(write_fd)
        self.read_fd = read_fd
        # Lambda's runtime makes stdout/stderr unbuffered; write_through gets the same effect.
        sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                      errors="backslashreplace", write_through=True)
        sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                      errors="backslashreplace", write_through=True)
        self.thread = threading.Thread(target=self._pump, name="nblambda-logs", daemon=True)
        self.thread.start()

    def _read_available(self):
        chunks = []
        while True:
            try:
                data = os.read(self.read_fd, 65536)
            except BlockingIOError:
                break
            if not data:
                break
            chunks.append(data)
        return b"".join(chunks)

    def _forward(self, data, final):
        data = self.partial + data
        if final:
            lines, self.partial = data, b""
        else:
            cut = data.rfind(b"\n") + 1
            lines, self.partial = data[:cut], data[cut:]
        if lines:
            if not lines.endswith(b"\n"):
                lines += b"\n"
            self.channel.send({"t": "log"}, lines)

    def _pump(self):
        while True:
            select.select([self.read_fd], [], [])
            with self.lock:
                data = self._read_available()
                if data:
                    self._forward(data, final=False)

    def drain(self):
        """Forward everything written so far, including a last unterminated line. Hold ``lock``."""
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except Exception:
            pass
        data = self._read_available()
        if data or self.partial:
            self._forward(data, final=True)
