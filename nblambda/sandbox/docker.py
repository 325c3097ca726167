"""The docker backend: each sandbox is a container, speaking the same protocol as a process.

Only the container's life is different from the process backend -- how it starts (a stem cell
claimed, or a container started on demand: see ``stemcells``), how it is limited (its cgroup:
memory with no swap, a CPU share proportional to memory, a pids limit, a 512 MB ``/tmp``, a
read-only root file system), and how its end is read (the engine's exit code and OOM flag). Init,
invoke, logs, timeouts and the error shapes are ``base.Sandbox``'s, shared with every backend.
"""
from __future__ import annotations

import os
import re
import shutil
import socket
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from .base import InitOutcome, LogSink, Reply, Sandbox
from .docker_engine import (BACKEND_LABEL, FUNCTION_LABEL, OWNER_LABEL, VERSION_LABEL,
                            DockerUnavailable, connect, cpus_for, default_image, ensure_image,
                            image_python_version, owner_alive, owner_id, remove_owned,
                            sweep_dead_owners)
from .forkserver import RUNTIME_DIR as HOST_RUNTIME_DIR
from .stemcells import (LAYER_STORE, RUNTIME_DIR, TASK_ROOT, Cell, CellFactory, Kind,
                        StemCells)

_MIB = 1024 * 1024
# Lambda's PATH and library path for its Python runtimes (the /var/lang ones are its interpreter's)
LAMBDA_PATH = "/var/lang/bin:/usr/local/bin:/usr/bin/:/bin:/opt/bin"
LAMBDA_LD_LIBRARY_PATH = "/var/lang/lib:/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:" \
                         "/var/task:/var/task/lib:/opt/lib"
# Variables the init message copies from the kernel's environment: host paths, meaningless in a
# container, so they are replaced by Lambda's own values there.
_HOST_VARIABLES = ("PATH", "LANG", "LC_ALL", "LD_LIBRARY_PATH", "PYTHONHOME", "SSL_CERT_FILE")
_SIGNALLED = 128  # a container's exit code is 128 + N when its process died of signal N


class DockerSandbox(Sandbox):
    backend_name = "docker"

    def __init__(self, backend: "DockerBackend", cell: Cell, memory_mb: int,
                 python_version: tuple[int, int]) -> None:
        super().__init__(cell.id, cell.sock, memory_mb)
        self.backend = backend
        self.cell = cell
        self.python_version = python_version
        self._exit: int | None = None
        self._waited = False

    # -- protocol, with the container's own figures --------------------------------------------
    def init(self, message: dict, init_timeout: float, on_log: LogSink | None = None,
             request_id: str = "") -> InitOutcome:
        outcome = super().init(self.backend.container_message(message, self.python_version),
                               init_timeout, on_log=on_log, request_id=request_id)
        self._read_peak()
        return outcome

    def invoke(self, request_id: str, payload: bytes, timeout: float, **kwargs) -> Reply:
        reply = super().invoke(request_id, payload, timeout, **kwargs)
        if reply.status in ("success", "error"):
            reply.max_memory_mb = max(reply.max_memory_mb, self._read_peak())
        return reply

    def _read_peak(self) -> int:
        """Max Memory Used from the container's cgroup: the peak of everything in it (the
        handler's child processes and its /tmp files included), which is what the limit counts."""
        if self.cell.cgroup is not None:
            peak = self.cell.cgroup.peak_bytes()
            if peak:
                self.max_memory_mb = max(self.max_memory_mb, int(peak / _MIB + 0.5))
        return self.max_memory_mb

    def peak_memory_mb(self) -> int:
        return self._read_peak()

    # -- the container's end ---------------------------------------------------------------------
    def kill(self) -> None:
        # Lambda stops the execution environment on a timeout: the whole container goes.
        self.backend.kill(self.cell)

    def exit_status(self, timeout: float) -> int | None:
        """The container's exit as a wait status (so ``exit_description`` reads it as for a
        process); None if it has not exited within ``timeout``."""
        if not self._waited:
            try:
                code = self.backend.client.api.wait(self.cell.container_id,
                                                    timeout=max(1, int(timeout + 0.99)))
                code = int(code.get("StatusCode", -1))
            except Exception:
                return None
            self._waited = True
            if _SIGNALLED < code < _SIGNALLED + 65:
                self._exit = code - _SIGNALLED  # WIFSIGNALED, WTERMSIG == N
            else:
                self._exit = (code & 0xFF) << 8  # WIFEXITED, WEXITSTATUS == code
        return self._exit

    def oom_killed(self) -> bool:
        if self.oom_flag:
            return True
        if self.cell.cgroup is not None and self.cell.cgroup.oom_kills() > 0:
            return True
        # The engine records the kernel's OOM kill on the container (State.OOMKilled); it may
        # trail the exit by a moment, so a SIGKILLed container is asked a few times.
        for attempt in range(4):
            try:
                state = self.backend.client.api.inspect_container(self.cell.container_id)["State"]
            except Exception:
                return False
            if state.get("OOMKilled"):
                return True
            if state.get("ExitCode") != _SIGNALLED + 9 or attempt == 3:
                return False
            threading.Event().wait(0.1)
        return False

    def destroy(self) -> None:
        self.dead = True
        self.close()
        self.backend.discard(self.cell)


class DockerBackend:
    """Sandboxes as containers of the local Docker engine.

    ``image``: the default image ("" = ``python:X.Y-slim`` if present, else the offline-built
    ``nblambda/python:X.Y``). ``network``: the default network ("" = Docker's bridge, i.e. on;
    "none" isolates). ``prewarm``: stem cells kept ready per (image, network) in use (0: none).
    ``layer_store``: the dependency layers' folder, mounted read-only into every container.
    """

    name = "docker"

    def __init__(self, *, image: str = "", network: str = "", prewarm: int = 2,
                 layer_store: str | os.PathLike | None = None, client: Any = None) -> None:
        self.client = client or connect()
        sweep_dead_owners(self.client)
        _sweep_dead_folders()
        self.owner = owner_id()
        self.token = os.urandom(4).hex()
        if image:
            ensure_image(self.client, image)
            self.default_image = image
            self._python_version = image_python_version(self.client, image)
        else:
            self._python_version = sys.version_info[:2]
            self.default_image = default_image(self.client, self._python_version)
        self.default_network = network or self._bridge_or_host()
        self._image_versions: dict[str, tuple[int, int]] = {self.default_image: self._python_version}
        self._checked_images = {self.default_image}
        pid, start = self.owner.split(":")[1:]
        self.folder = Path(tempfile.mkdtemp(prefix=f"nblambda-docker-{pid}-{start}-"))
        self.layer_store = Path(layer_store) if layer_store else self.folder / "layers"
        self.layer_store.mkdir(parents=True, exist_ok=True)
        self.factory = CellFactory(self.client, self.folder, runtime_dir=HOST_RUNTIME_DIR,
                                   layer_store=self.layer_store,
                                   labels={OWNER_LABEL: self.owner, BACKEND_LABEL: self.token})
        self._chores = ThreadPoolExecutor(max_workers=2, thread_name_prefix="nblambda-docker")
        self._lock = threading.Lock()
        self._closed = False
        self.stemcells = StemCells(lambda kind: self.factory.create(kind, 128), self.discard,
                                   prewarm)
        self.default_kind = Kind(self.default_image, self.default_network)
        self.stemcells.want(self.default_kind)

    def _bridge_or_host(self) -> str:
        # Lambda functions reach the network by default. An engine started without its bridge
        # (dockerd --bridge=none, where iptables is unavailable) can still give them the host's.
        return "bridge" if self.client.api.networks(names=["bridge"]) else "host"

    # -- the interface every backend offers ------------------------------------------------------
    def prestart(self) -> None:
        """Wait until the default stem cells are ready (benchmarks and tests use it)."""
        self.stemcells.wait_ready(self.default_kind)

    def task_root(self, spec) -> str:
        return TASK_ROOT

    def layer_paths(self, spec) -> list[str]:
        """Lambda puts a layer's python/ folder, extracted under /opt, on sys.path."""
        return ["/opt/python"] if spec is not None and spec.layer_dir else []

    def runtime_dir(self) -> str:
        return RUNTIME_DIR

    def python_version(self) -> tuple[int, int]:
        """The default image's Python (layers are built for it)."""
        return self._python_version

    def start(self, memory_mb: int, spec=None) -> DockerSandbox:
        if self._closed:
            raise DockerUnavailable("The docker backend is closed")
        kind = self._kind(spec)
        cell = self.stemcells.take(kind)
        stem = cell is not None
        if not stem:  # no stem cell of this kind: a container of its own, as `docker run`
            labels = {FUNCTION_LABEL: spec.function_name, VERSION_LABEL: spec.version} \
                if spec is not None else {}
            cell = self.factory.create(kind, memory_mb, labels, self._name(spec))
        self.stemcells.want(kind)
        try:
            if stem and spec is not None:  # off the cold-start path
                self._chores.submit(_rename, self.client, cell, self._name(spec, cell))
            if spec is not None:
                cell.assign(spec.code_dir, self._layer_target(spec))
            self._limit(cell, memory_mb)
        except BaseException:
            self.discard(cell)
            raise
        return DockerSandbox(self, cell, memory_mb, self._image_versions[kind.image])

    def close(self) -> None:
        with self._lock:
            if self._closed:
                return
            self._closed = True
        for cell in self.stemcells.close():
            self.discard(cell)
        self._chores.shutdown(wait=True)
        remove_owned(self.client, BACKEND_LABEL, self.token)  # anything a failure left behind
        shutil.rmtree(self.folder, ignore_errors=True)
        try:
            self.client.close()
        except Exception:
            pass

    # -- helpers -----------------------------------------------------------------------------------
    def _kind(self, spec) -> Kind:
        image = (spec.image if spec is not None else "") or self.default_image
        if image not in self._checked_images:
            ensure_image(self.client, image)
            self._image_versions[image] = image_python_version(self.client, image)
            self._checked_images.add(image)
        return Kind(image, (spec.network if spec is not None else "") or self.default_network)

    def _name(self, spec, cell: Cell | None = None) -> str:
        fn = re.sub(r"[^a-zA-Z0-9_.-]", "-", spec.function_name) if spec is not None else "cell"
        number = f"c{cell.number}" if cell is not None else os.urandom(3).hex()
        return f"nblambda-{fn}-{self.token}-{number}"

    def _layer_target(self, spec) -> str | None:
        """Where the function's layer is seen from inside a container (the layer store is
        mounted read-only at LAYER_STORE)."""
        if not spec.layer_dir:
            return None
        layer = Path(spec.layer_dir).resolve()
        try:
            relative = layer.relative_to(self.layer_store.resolve())
        except ValueError:
            raise DockerUnavailable(f"Dependency layer {layer} is outside the layer store "
                                    f"{self.layer_store}") from None
        return f"{LAYER_STORE}/{relative.as_posix()}"

    def _limit(self, cell: Cell, memory_mb: int) -> None:
        """The function's memory (no swap) and CPU share: 1,769 MB = one vCPU, as in Lambda."""
        cpus = cpus_for(memory_mb)
        try:
            if cell.cgroup is None:
                raise OSError("no cgroup access")
            cell.cgroup.set_memory(memory_mb)
            cell.cgroup.set_cpus(cpus)
            cell.cgroup.reset_peak()  # Max Memory Used counts from the function's init on
        except OSError:
            limit = memory_mb * _MIB
            self.client.api.update_container(cell.container_id, mem_limit=limit,
                                             memswap_limit=limit, cpu_period=100_000,
                                             cpu_quota=int(cpus * 100_000))

    def kill(self, cell: Cell) -> None:
        try:
            self.client.api.kill(cell.container_id)
        except Exception:
            pass  # already gone

    def discard(self, cell: Cell) -> None:
        """Close a cell's socket now; remove its container and folder in the background."""
        try:
            cell.sock.close()
        except OSError:
            pass
        try:
            self._chores.submit(_remove, self.client, cell)
        except RuntimeError:  # closing: the executor is shut down
            _remove(self.client, cell)

    def container_message(self, message: dict, python_version: tuple[int, int]) -> dict:
        """The init message, with Lambda's container paths instead of the kernel's."""
        env = dict(message["env"])
        for key in _HOST_VARIABLES:
            if key in env and env[key] == os.environ.get(key):
                del env[key]
        env.setdefault("PATH", LAMBDA_PATH)
        env.setdefault("LD_LIBRARY_PATH", LAMBDA_LD_LIBRARY_PATH)
        env.setdefault("LANG", "en_US.UTF-8")
        env["AWS_EXECUTION_ENV"] = "AWS_Lambda_python%d.%d" % python_version
        return dict(message, env=env)

    def __repr__(self) -> str:
        return (f"<DockerBackend image={self.default_image} network={self.default_network} "
                f"prewarm={self.stemcells.target}>")


def _rename(client: Any, cell: Cell, name: str) -> None:
    # Labels are fixed at creation, before a stem cell knows its function: the name says it.
    try:
        client.api.rename(cell.container_id, name)
    except Exception:
        pass


def _remove(client: Any, cell: Cell) -> None:
    try:
        client.api.remove_container(cell.container_id, force=True)
    except Exception:
        pass
    shutil.rmtree(cell.folder, ignore_errors=True)


def _sweep_dead_folders() -> None:
    """Host folders of backends whose kernel died (their containers are swept separately)."""
    host = socket.gethostname()
    for folder in Path(tempfile.gettempdir()).glob("nblambda-docker-*-*-*"):
        parts = folder.name.split("-")
        if len(parts) >= 5 and not owner_alive(f"{host}:{parts[2]}:{parts[3]}"):
            shutil.rmtree(folder, ignore_errors=True)
