"""The Docker engine, as the docker backend needs it: a lazy, local connection, the default image,
hygiene labels (and the sweep of a dead kernel's containers), and each container's cgroup.

Nothing here runs at import time: ``import docker`` and the engine's socket are touched only when a
docker sandbox is asked for, so the process backend works on machines without Docker.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

from ..errors import LambdaError

LABEL = "nblambda"  # every container nblambda starts carries it: `docker ps -a --filter label=nblambda`
OWNER_LABEL = "nblambda.owner"  # host:pid:start-time of the kernel that started it
BACKEND_LABEL = "nblambda.backend"  # one DockerBackend (several may share a kernel)
DIR_LABEL = "nblambda.dir"  # the host folder holding the container's mounts and socket
FUNCTION_LABEL = "nblambda.function"
VERSION_LABEL = "nblambda.version"
STEMCELL_LABEL = "nblambda.stemcell"
DEFAULT_SOCKET = "unix:///var/run/docker.sock"


class DockerUnavailable(LambdaError):
    """The docker backend cannot run here (no engine, a remote engine, no image)."""

    code = "ServiceException"
    status = 500


def engine_url() -> str:
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def connect(timeout: float = 60.0) -> Any:
    """A ``docker.DockerClient`` for the local engine, or DockerUnavailable saying how to get one."""
    url = engine_url()
    if not url.startswith("unix://"):
        # The runtime, the code and the protocol's socket reach containers as bind mounts of this
        # machine's folders, which an engine elsewhere cannot see.
        raise DockerUnavailable(
            f"DOCKER_HOST={url} is not a local engine: the docker backend bind-mounts this "
            "machine's folders (runtime, code, socket) into containers, which only works with an "
            "engine on this machine. Unset DOCKER_HOST or point it at a unix:// socket, "
            "or use --backend process")
    try:
        import docker
    except ImportError:
        raise DockerUnavailable("The docker backend needs the `docker` Python package: "
                                "pip install docker (or use --backend process)") from None
    try:
        client = docker.DockerClient(base_url=url, timeout=int(timeout))
        client.ping()
    except Exception as exc:
        raise DockerUnavailable(
            f"Docker engine not reachable at {url} — start it with `dockerd` "
            "(or `sudo bash tests/setup_docker.sh`), or use --backend process "
            f"[{type(exc).__name__}: {str(exc)[:200]}]") from None
    return client


# -- images ----------------------------------------------------------------------------------
def image_exists(client: Any, name: str) -> bool:
    import docker.errors

    try:
        client.api.inspect_image(name)
        return True
    except docker.errors.ImageNotFound:
        return False


def default_image(client: Any, python_version: tuple[int, int]) -> str:
    """The official ``python:X.Y-slim`` if present, else nblambda's offline-built
    ``nblambda/python:X.Y``, else a pull of the official one; DockerUnavailable if none works."""
    version = "%d.%d" % python_version
    official, offline = f"python:{version}-slim", f"nblambda/python:{version}"
    for name in (official, offline):
        if image_exists(client, name):
            return name
    try:
        client.images.pull(official)
        return official
    except Exception as exc:
        raise DockerUnavailable(
            f"No image for Python {version}: neither {official} nor {offline} is present and "
            f"pulling {official} failed ({str(exc)[:160]}). Build one offline with "
            "`nblambda image build`, or pass --image") from None


def ensure_image(client: Any, name: str) -> None:
    """A function's own ``--image``: present, or pulled now."""
    if image_exists(client, name):
        return
    try:
        client.images.pull(name)
    except Exception as exc:
        raise DockerUnavailable(f"Image {name!r} is not on this machine and could not be pulled "
                                f"({str(exc)[:160]}); build or load it, or pass another --image"
                                ) from None


def image_python_version(client: Any, name: str) -> tuple[int, int]:
    """The major.minor of ``python3`` in an image: the official images say it in their
    environment (PYTHON_VERSION); others are asked once."""
    env = client.api.inspect_image(name).get("Config", {}).get("Env") or []
    for item in env:
        if item.startswith("PYTHON_VERSION="):
            major, minor = item.split("=", 1)[1].split(".")[:2]
            return int(major), int(minor)
    out = client.containers.run(name, ["python3", "-c", "import sys;print(*sys.version_info[:2])"],
                                remove=True, network_mode="none", labels={LABEL: "probe"})
    major, minor = out.split()
    return int(major), int(minor)


# -- ownership and the sweep of dead kernels' containers ----------------------------------------
def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot: with the pid, a unique identity."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return None


def owner_id(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid) or 0}"


def owner_alive(owner: str) -> bool:
    """False only when ``owner`` certainly died: same host, and its pid is gone or reused."""
    host, _, rest = owner.partition(":")
    pid, _, started = rest.partition(":")
    if host != socket.gethostname() or not pid.isdigit():
        return True  # another machine's kernel (a shared engine): not ours to judge
    return _start_time(int(pid)) == started


def sweep_dead_owners(client: Any) -> int:
    """Remove the containers (and their host folders) of kernels that died without closing,
    e.g. a kernel killed by a restart. Returns how many."""
    removed = 0
    for c in client.api.containers(all=True, filters={"label": LABEL}):
        labels = c.get("Labels") or {}
        owner = labels.get(OWNER_LABEL)
        if owner is None or owner_alive(owner):
            continue
        try:
            client.api.remove_container(c["Id"], force=True)
            removed += 1
        except Exception:
            pass
        folder = labels.get(DIR_LABEL)
        if folder and Path(folder).name.startswith("nblambda-docker-"):
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    return removed


def remove_owned(client: Any, label: str, value: str) -> int:
    """Force-remove every container whose ``label`` is ``value`` (a backend closing)."""
    removed = 0
    for c in client.api.containers(all=True, filters={"label": f"{label}={value}"}):
        try:
            client.api.remove_container(c["Id"], force=True)
            removed += 1
        except Exception:
            pass
    return removed


# -- cgroups -------------------------------------------------------------------------------------
_CGROUP_ROOT = Path("/sys/fs/cgroup")


class ContainerCgroup:
    """A running container's cgroup, read and written from the host: cheaper than the engine's
    API (microseconds, not tens of milliseconds) on the cold-start path. ``None`` from ``find``
    when the files are not reachable; callers then fall back to the API."""

    def __init__(self, memory: Path, cpu: Path | None, version: int) -> None:
        self.memory = memory
        self.cpu = cpu
        self.version = version

    @classmethod
    def find(cls, pid: int) -> "ContainerCgroup | None":
        try:
            lines = Path(f"/proc/{pid}/cgroup").read_text().splitlines()
        except OSError:
            return None
        paths = {}
        for line in lines:
            _, controllers, path = line.split(":", 2)
            for name in controllers.split(",") if controllers else [""]:
                paths[name] = path.lstrip("/")
        if "memory" in paths and (_CGROUP_ROOT / "memory").is_dir():
            memory = _CGROUP_ROOT / "memory" / paths["memory"]
            cpu = None
            for mount in ("cpu", "cpu,cpuacct"):
                if "cpu" in paths and (_CGROUP_ROOT / mount / paths["cpu"]).is_dir():
                    cpu = _CGROUP_ROOT / mount / paths["cpu"]
                    break
            found = cls(memory, cpu, 1)
        elif "" in paths and (_CGROUP_ROOT / "cgroup.controllers").exists():
            group = _CGROUP_ROOT / paths[""]
            found = cls(group, group, 2)
        else:
            return None
        return found if found._readable() else None

    def _readable(self) -> bool:
        name = "memory.max_usage_in_bytes" if self.version == 1 else "memory.current"
        return os.access(self.memory / name, os.R_OK)

    def _write(self, path: Path, value: str) -> None:
        with open(path, "w") as f:
            f.write(value)

    def set_memory(self, mb: int) -> None:
        """Limit memory and memory+swap to ``mb`` (Lambda has no swap). Raises OSError."""
        limit = str(mb * 1024 * 1024)
        if self.version == 2:
            self._write(self.memory / "memory.max", limit)
            swap = self.memory / "memory.swap.max"
            if swap.exists():
                self._write(swap, "0")
            return
        memsw = self.memory / "memory.memsw.limit_in_bytes"
        has_swap = memsw.exists()
        # v1 needs limit <= memsw.limit at every step: raise memsw first, lower it last
        current = int((self.memory / "memory.limit_in_bytes").read_text())
        if has_swap and int(limit) > current:
            self._write(memsw, limit)
        self._write(self.memory / "memory.limit_in_bytes", limit)
        if has_swap and int(limit) <= current:
            self._write(memsw, limit)

    def set_cpus(self, cpus: float) -> None:
        """A CFS quota of ``cpus`` CPUs per 100 ms period (what ``nano_cpus`` sets)."""
        if self.cpu is None:
            raise OSError("no cpu cgroup")
        period = 100_000
        quota = max(1000, int(cpus * period))
        if self.version == 2:
            self._write(self.cpu / "cpu.max", f"{quota} {period}")
        else:
            self._write(self.cpu / "cpu.cfs_period_us", str(period))
            self._write(self.cpu / "cpu.cfs_quota_us", str(quota))

    def peak_bytes(self) -> int | None:
        """Peak memory use since the last reset (v1) or since the start (v2); None if gone."""
        names = ("memory.max_usage_in_bytes",) if self.version == 1 else \
            ("memory.peak", "memory.current")
        for name in names:
            try:
                return int((self.memory / name).read_text())
            except (OSError, ValueError):
                continue
        return None

    def reset_peak(self) -> None:
        if self.version == 1:
            try:
                self._write(self.memory / "memory.max_usage_in_bytes", "0")
            except OSError:
                pass

    def oom_kills(self) -> int:
        name = "memory.oom_control" if self.version == 1 else "memory.events"
        try:
            for line in (self.memory / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            pass
        return 0


def cpus_for(memory_mb: int) -> float:
    """Lambda's CPU share: one vCPU at 1,769 MB, proportional below and above, at most the
    machine's CPUs."""
    try:
        available = len(os.sched_getaffinity(0))
    except AttributeError:
        available = os.cpu_count() or 1
    return max(0.01, min(float(available), memory_mb / 1769.0))
