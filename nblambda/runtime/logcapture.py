"""Everything the function writes to fds 1 and 2 (print, logging, C code, child processes) goes into
a pipe whose read end belongs to the host.

The sandbox hands the read end over at init, as a descriptor passed on the protocol socket, and keeps
only the write end. The host reads the lines live while the handler runs and drains the pipe when a
result arrives (everything written before the result is in the pipe by then). Because the sandbox
never holds the bytes itself, what it wrote just before it died — a crash, a kill at the timeout or
at the memory limit — is still in the pipe for the host, as Lambda's log pipe outlives its runtime.
"""
import io
import os
import sys


def capture_output(channel):
    read_fd, write_fd = os.pipe()
    channel.send_fds({"t": "logs"}, [read_fd])
    os.close(read_fd)
    os.dup2(write_fd, 1)
    os.dup2(write_fd, 2)
    os.close(write_fd)
    # Lambda's runtime makes stdout/stderr unbuffered; write_through gets the same effect.
    sys.stdout = io.TextIOWrapper(io.FileIO(1, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", write_through=True)
    sys.stderr = io.TextIOWrapper(io.FileIO(2, "w", closefd=False), encoding="utf-8",
                                  errors="backslashreplace", write_through=True)


def flush_output():
    """Before a result leaves: text a handler left in Python's buffers goes into the pipe first."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass
