"""Host side of the zygote (``runtime/zygote.py``): start it, ask it for sandboxes, learn their exits."""
from __future__ import annotations

import json
import socket
import subprocess
import sys
import threading
from concurrent.futures import Future
from pathlib import Path

RUNTIME_DIR = str(Path(__file__).resolve().parent.parent / "runtime")


class ForkServerError(RuntimeError):
    pass


class ForkServer:
    def __init__(self, python: str = sys.executable) -> None:
        self.python = python
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._ctrl: socket.socket | None = None
        self._pending: dict[int, Future] = {}
        self._exits: dict[int, int] = {}
        self._exit_cond = threading.Condition()
        self._next_id = 0
        self._ready = Future()
        self._closed = False

    def start(self) -> None:
        with self._lock:
            if self._closed:
                raise ForkServerError("the sandbox fork server was closed")
            if self._proc is not None:
                return
            host_end, zygote_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
            # Its own session: Ctrl-C in a terminal and Jupyter's Interrupt signal the kernel's
            # whole process group, and must interrupt the notebook, not kill every sandbox. The
            # zygote still goes when the kernel does: it exits when its control socket closes.
            self._proc = subprocess.Popen(
                [self.python, RUNTIME_DIR, "zygote", str(zygote_end.fileno())],
                pass_fds=[zygote_end.fileno()], stdin=subprocess.DEVNULL, close_fds=True,
                start_new_session=True)
            zygote_end.close()
            self._ctrl = host_end
            threading.Thread(target=self._read_loop, name="nblambda-zygote", daemon=True).start()
        try:
            self._ready.result(timeout=30)
        except Exception as exc:
            raise ForkServerError(f"the sandbox fork server did not start with {self.python}: {exc}")

    def _read_loop(self) -> None:
        ctrl = self._ctrl
        while True:
            try:
                data = ctrl.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            msg = json.loads(data)
            kind = msg["t"]
            if kind == "spawned":
                fut = self._pending.pop(msg["id"], None)
                if fut is not None:
                    fut.set_result(msg["pid"])
            elif kind == "exited":
                with self._exit_cond:
                    self._exits[msg["pid"]] = msg["status"]
                    self._exit_cond.notify_all()
            elif kind == "ready":
                self._ready.set_result(msg["pid"])
        err = ForkServerError("the sandbox fork server exited")
        if not self._ready.done():
            self._ready.set_exception(err)
        for fut in list(self._pending.values()):
            if not fut.done():
                fut.set_exception(err)
        with self._exit_cond:
            self._exit_cond.notify_all()

    def spawn(self, cgroups: list[str]) -> tuple[int, socket.socket]:
        """Fork a sandbox; returns its pid and the host end of its socket."""
        self.start()
        host_end, sandbox_end = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        fut: Future = Future()
        with self._lock:
            self._next_id += 1
            request_id = self._next_id
            self._pending[request_id] = fut
            try:
                socket.send_fds(self._ctrl, [json.dumps(
                    {"t": "spawn", "id": request_id, "cgroups": cgroups}).encode()],
                    [sandbox_end.fileno()])
            except OSError as exc:
                self._pending.pop(request_id, None)
                host_end.close()
                raise ForkServerError(f"the sandbox fork server is gone: {exc}") from None
            finally:
                sandbox_end.close()
        return fut.result(timeout=30), host_end

    def wait_exit(self, pid: int, timeout: float) -> int | None:
        """The raw wait status of a sandbox that ended, or None if it has not within ``timeout``."""
        with self._exit_cond:
            self._exit_cond.wait_for(lambda: pid in self._exits or self._proc is None
                                     or self._proc.poll() is not None, timeout=timeout)
            return self._exits.pop(pid, None)

    def forget(self, pid: int) -> None:
        with self._exit_cond:
            self._exits.pop(pid, None)

    def close(self) -> None:
        with self._lock:
            proc, ctrl = self._proc, self._ctrl
            self._proc = None
            self._closed = True
        if proc is None:
            return
        try:
            ctrl.send(json.dumps({"t": "exit"}).encode())
        except OSError:
            pass
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        ctrl.close()
