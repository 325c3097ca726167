"""Cells and stem cells: containers running the runtime, connected to the host, not yet anyone's.

A *cell* is a container started from a generic recipe: the runtime folder at ``/var/runtime``, an
empty per-cell folder at ``/var/task`` and another at ``/opt``, the layer store, and its socket's
folder -- all bind mounts, read-only. Its runtime has connected to the host and waits for ``init``.
Bind mounts are fixed when a container is created, but the *contents* of a bind-mounted host folder
are not: claiming a cell for a function copies the function's code into the cell's task folder and
links its dependency layer as ``/opt/python``, then the init message points the runtime there. So
a cell started before anyone knew which function it would serve (a *stem cell*) becomes that
function's sandbox without a ``docker run`` on the cold-start path.

``StemCells`` keeps a few such cells ready per (image, network) and replaces each one taken, in the
background.
"""
from __future__ import annotations

import itertools
import os
import shutil
import socket
import threading
import time
from collections import deque
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from .docker_engine import (BACKEND_LABEL, DIR_LABEL, LABEL, STEMCELL_LABEL, ContainerCgroup,
                            DockerUnavailable)

# Where things are inside a container: Lambda's own paths.
TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
OPT_DIR = "/opt"
LAYER_STORE = "/var/nblambda/layers"
SOCKET_DIR = "/var/run/nblambda"
SANDBOX_USER = "993:990"  # Lambda runs functions as an unprivileged user (sbx_user1051, uid 993)
TMP_SIZE = "512m"  # Lambda's default ephemeral storage (/tmp) is 512 MB
PIDS_LIMIT = 1024  # Lambda's limit on processes and threads per execution environment
CONNECT_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Kind:
    """What a cell is fixed to at creation: its image and its network."""

    image: str
    network: str


class Cell:
    """One started container whose runtime is connected to ``sock`` and waits for ``init``."""

    def __init__(self, number: int, kind: Kind, folder: Path, container_id: str, pid: int,
                 sock: socket.socket, cgroup: ContainerCgroup | None) -> None:
        self.number = number
        self.kind = kind
        self.folder = folder
        self.container_id = container_id
        self.pid = pid
        self.sock = sock
        self.cgroup = cgroup

    @property
    def id(self) -> str:
        return self.container_id[:12]

    def alive(self) -> bool:
        """Still connected: a runtime waiting for init sends nothing, so readable means gone."""
        try:
            return self.sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) != b""
        except BlockingIOError:
            return True
        except OSError:
            return False

    def assign(self, code_dir: str, layer_target: str | None) -> None:
        """Give the cell a function: its code under /var/task, its layer as /opt/python."""
        _copy_tree(Path(code_dir), self.folder / "task")
        if layer_target:
            os.symlink(layer_target, self.folder / "opt" / "python")

    def __repr__(self) -> str:
        return f"<Cell {self.id} {self.kind.image} network={self.kind.network}>"


def _copy_tree(src: Path, dst: Path) -> None:
    # Copies, not hard links: a cell's files must be readable by the sandbox user whatever the
    # kernel's umask was when the code store was written. A cell's code is a few small files.
    for root, dirs, files in os.walk(src):
        target = dst / os.path.relpath(root, src)
        target.mkdir(exist_ok=True)
        os.chmod(target, 0o755)
        for name in files:
            shutil.copyfile(os.path.join(root, name), target / name)
            os.chmod(target / name, 0o644)


class CellFactory:
    """Starts cells of one backend. ``base``: the backend's host folder (one sub-folder per cell)."""

    def __init__(self, client: Any, base: Path, *, runtime_dir: str, layer_store: Path,
                 labels: dict[str, str]) -> None:
        self.client = client
        self.base = base
        self.runtime_dir = runtime_dir
        self.layer_store = layer_store
        self.labels = dict(labels, **{LABEL: "1", DIR_LABEL: str(base)})
        self._numbers = itertools.count(1)

    def create(self, kind: Kind, memory_mb: int, labels: dict[str, str] | None = None,
               name: str = "") -> Cell:
        """Start a container and wait until its runtime connects (a ``docker run``'s cost)."""
        number = next(self._numbers)
        folder = self.base / f"c{number}"
        for sub in ("", "task", "opt", "sock"):
            (folder / sub).mkdir(exist_ok=True)
            os.chmod(folder / sub, 0o755)
        listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        container_id = None
        try:
            listener.bind(str(folder / "sock" / "s"))
            os.chmod(folder / "sock" / "s", 0o777)  # the sandbox user connects to it
            listener.listen(1)
            all_labels = dict(self.labels, **(labels or {}))
            if labels is None:
                all_labels[STEMCELL_LABEL] = "1"
            container_id = self._start(kind, memory_mb, folder, all_labels,
                                       name or f"nblambda-{self.labels[BACKEND_LABEL]}-c{number}")
            sock = self._accept(listener, container_id)
            pid = self.client.api.inspect_container(container_id)["State"]["Pid"]
        except BaseException:
            listener.close()
            if container_id is not None:
                _quietly(self.client.api.remove_container, container_id, force=True)
            shutil.rmtree(folder, ignore_errors=True)
            raise
        listener.close()
        os.unlink(folder / "sock" / "s")
        return Cell(number, kind, folder, container_id, pid, sock, ContainerCgroup.find(pid))

    def _start(self, kind: Kind, memory_mb: int, folder: Path, labels: dict[str, str],
               name: str) -> str:
        from docker.types import Mount, Ulimit

        api = self.client.api
        mounts = [
            Mount(RUNTIME_DIR, self.runtime_dir, type="bind", read_only=True),
            Mount(TASK_ROOT, str(folder / "task"), type="bind", read_only=True),
            Mount(OPT_DIR, str(folder / "opt"), type="bind", read_only=True),
            Mount(LAYER_STORE, str(self.layer_store), type="bind", read_only=True),
            Mount(SOCKET_DIR, str(folder / "sock"), type="bind", read_only=True),
        ]
        limit = memory_mb * 1024 * 1024
        host_config = api.create_host_config(
            mounts=mounts, tmpfs={"/tmp": f"size={TMP_SIZE},mode=1777"}, read_only=True,
            mem_limit=limit, memswap_limit=limit,  # swap equal to memory: none, as in Lambda
            pids_limit=PIDS_LIMIT, network_mode=kind.network, init=True, cap_drop=["ALL"],
            security_opt=["no-new-privileges"],
            ulimits=[Ulimit(name="nofile", soft=1024, hard=1024)])
        import docker.errors

        try:
            created = api.create_container(
                kind.image, command=["python3", RUNTIME_DIR, "connect", f"{SOCKET_DIR}/s"],
                user=SANDBOX_USER, working_dir=TASK_ROOT, labels=labels, name=name,
                environment={"LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"},
                host_config=host_config)
        except docker.errors.ImageNotFound:
            raise DockerUnavailable(f"Image {kind.image!r} not found: build it with "
                                    "`nblambda image build` or pass another --image") from None
        except docker.errors.APIError as exc:
            raise DockerUnavailable(f"Could not create a container from {kind.image!r} "
                                    f"(network {kind.network!r}): {exc.explanation or exc}"
                                    ) from None
        try:
            api.start(created["Id"])
        except docker.errors.APIError as exc:
            _quietly(api.remove_container, created["Id"], force=True)
            raise DockerUnavailable(f"Could not start a container from {kind.image!r}: "
                                    f"{exc.explanation or exc}") from None
        return created["Id"]

    def _accept(self, listener: socket.socket, container_id: str) -> socket.socket:
        """The runtime's connection; fails fast with the container's output if it exits first."""
        deadline = time.monotonic() + CONNECT_TIMEOUT_S
        listener.settimeout(0.25)
        while True:
            try:
                sock, _ = listener.accept()
                sock.settimeout(None)
                return sock
            except socket.timeout:
                pass
            state = self.client.api.inspect_container(container_id)["State"]
            if not state.get("Running") or time.monotonic() > deadline:
                output = self.client.api.logs(container_id, tail=15).decode("utf-8", "replace")
                why = (f"exited with status {state.get('ExitCode')}" if not state.get("Running")
                       else f"did not connect within {CONNECT_TIMEOUT_S:.0f} s (is the engine on "
                            "this machine, sharing its folders?)")
                raise DockerUnavailable(f"The sandbox container {container_id[:12]} {why}; "
                                        f"its output: {output.strip()[-800:] or '(none)'}")


def _quietly(fn: Callable, *args, **kwargs) -> None:
    try:
        fn(*args, **kwargs)
    except Exception:
        pass


class StemCells:
    """``target`` ready cells per wanted kind, started one at a time by a background thread (so
    replenishing never competes with itself for the machine's CPUs)."""

    FAILURE_BACKOFF_S = 5.0

    def __init__(self, create: Callable[[Kind], Cell], discard: Callable[[Cell], None],
                 target: int) -> None:
        self._create = create
        self._discard = discard
        self.target = target
        self._queues: dict[Kind, deque[Future]] = {}
        self._backoff: dict[Kind, float] = {}
        self._cond = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def want(self, kind: Kind) -> None:
        """Keep ``target`` cells of ``kind`` ready from now on."""
        if self.target <= 0:
            return
        with self._cond:
            if self._closed:
                return
            self._queues.setdefault(kind, deque())
            self._cond.notify_all()
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="nblambda-stemcells",
                                                daemon=True)
                self._thread.start()

    def ready(self, kind: Kind) -> int:
        with self._cond:
            return sum(1 for f in self._queues.get(kind, ()) if f.done() and not f.exception())

    def wait_ready(self, kind: Kind, count: int | None = None, timeout: float = 60.0) -> bool:
        """Block until ``count`` (default: all) cells of ``kind`` are ready."""
        count = self.target if count is None else count
        deadline = time.monotonic() + timeout
        self.want(kind)
        while self.ready(kind) < count:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.02)
        return True

    def take(self, kind: Kind, timeout: float = CONNECT_TIMEOUT_S) -> Cell | None:
        """A ready cell of ``kind`` (or one already starting, waited for); None if there is none
        (the caller starts one itself, and so sees any error of starting it)."""
        while True:
            with self._cond:
                queue = self._queues.get(kind)
                if not queue or self._closed:
                    return None
                future = queue.popleft()
                self._cond.notify_all()
            try:
                cell = future.result(timeout)
            except Exception:
                if not future.done():  # given up on: discarded when it does start
                    future.add_done_callback(
                        lambda f: f.exception() is None and self._discard(f.result()))
                return None
            if cell.alive():
                return cell
            self._discard(cell)

    def _next_kind(self) -> Kind | None:
        now = time.monotonic()
        for kind, queue in self._queues.items():
            if len(queue) < self.target and self._backoff.get(kind, 0.0) <= now:
                return kind
        return None

    def _run(self) -> None:
        while True:
            with self._cond:
                kind = None
                while not self._closed and (kind := self._next_kind()) is None:
                    self._cond.wait(1.0)
                if self._closed:
                    return
                future: Future = Future()
                self._queues[kind].append(future)
            try:
                cell = self._create(kind)
            except Exception as exc:
                with self._cond:  # a failed start holds no place; retried after a pause
                    self._backoff[kind] = time.monotonic() + self.FAILURE_BACKOFF_S
                    if future in self._queues[kind]:
                        self._queues[kind].remove(future)
                future.set_exception(exc)
                continue
            future.set_result(cell)

    def close(self) -> list[Cell]:
        """Stop replenishing; returns the cells that were never taken."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            thread = self._thread
        if thread is not None:
            thread.join()
        cells = []
        with self._cond:
            for queue in self._queues.values():
                for future in queue:
                    if future.done() and not future.exception():
                        cells.append(future.result())
                queue.clear()
        return cells
