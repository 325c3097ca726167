"""Run the API on uvicorn: in the foreground (``nblambda serve``) or in a background thread
(``%lambda serve`` in a notebook, tests, benchmarks).

Loopback by default. Any other address exposes every function to the network, so it needs an
access key pair, and then every request must carry a valid SigV4 signature for it.
"""
from __future__ import annotations

import asyncio
import ipaddress
import socket
import threading
import time

import uvicorn

from ..errors import InvalidParameterValueException
from ..platform import Platform
from .app import create_app
from .sigv4 import ENV_ACCESS_KEY, ENV_SECRET_KEY, Credentials

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 9001


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_binding(host: str, credentials: Credentials | None) -> None:
    if not is_loopback(host) and credentials is None:
        raise InvalidParameterValueException(
            f"Serving on {host} would expose every function to the network: configure an access "
            f"key pair (--access-key/--secret-key, or ${ENV_ACCESS_KEY} and ${ENV_SECRET_KEY}), "
            "and clients then sign their requests with it; or keep the default 127.0.0.1")


def bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only on sockets that say they
    # are TCP, and with Nagle on, a response sent as headers then body waits ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        sock.close()
        raise OSError(exc.errno, f"Cannot listen on {host}:{port}: {exc.strerror}. Choose another "
                                 "port with --port (0 picks a free one)") from None
    sock.listen(2048)
    sock.setblocking(False)
    return sock


class Server:
    """The Lambda API and HTTP routes of ``platform`` on ``host:port`` (port 0: a free one)."""

    def __init__(self, platform: Platform, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
                 credentials: Credentials | None = None, log_level: str = "warning") -> None:
        check_binding(host, credentials)
        self.platform = platform
        self.host = host
        self.credentials = credentials
        self.app = create_app(platform, credentials)
        self._socket = bind(host, port)
        self.port = self._socket.getsockname()[1]
        config = uvicorn.Config(self.app, log_level=log_level, access_log=False, lifespan="off",
                                timeout_keep_alive=30, server_header=False)
        self._server = uvicorn.Server(config)
        self._thread: threading.Thread | None = None

    @property
    def endpoint(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self, timeout: float = 10.0) -> "Server":
        """Serve from a daemon thread; returns once the server accepts connections."""
        if self._thread is not None:
            return self
        self._thread = threading.Thread(target=self._run_thread, name="nblambda-api", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"The nblambda API server did not start on {self.endpoint}")
            time.sleep(0.01)
        return self

    def _run_thread(self) -> None:
        # A fresh event loop in this thread: the notebook's own loop is never touched.
        # uvicorn's loop factory: uvloop when installed, else asyncio's own.
        with asyncio.Runner(loop_factory=self._server.config.get_loop_factory()) as runner:
            runner.run(self._server.serve(sockets=[self._socket]))

    def serve_forever(self) -> None:
        """Serve in the foreground until Ctrl-C / SIGTERM (uvicorn handles both)."""
        try:
            self._server.run(sockets=[self._socket])
        finally:
            self._socket.close()
            self.app.close()

    def stop(self, timeout: float = 10.0) -> None:
        self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._socket.close()
        self.app.close()

    def __enter__(self) -> "Server":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        auth = "SigV4" if self.credentials else "no auth (loopback)"
        return f"<nblambda API {self.endpoint} {state}, {auth}>"
