"""Dependency layers: a function's ``requirements`` installed once, shared by every function that
asks for the same set, on both backends.

Lambda ships third-party packages as *layers* extracted under ``/opt``, with ``/opt/python`` on the
runtime's ``sys.path``. A layer here is a folder ``<root>/<key>/python`` filled by
``pip install --target``; ``<key>`` hashes the sorted requirement lines and the target Python's
major.minor, so two functions pinning the same set share one install, and a different Python gets
its own. The process backend puts the folder on ``sys.path``; the docker backend mounts the layer
store read-only and links the folder at ``/opt/python``.

Requirements are pip requirement lines (``pkg==1.0``). Like a requirements file, the list may also
carry pip's source options -- ``--find-links DIR``, ``--no-index``, ``--index-url URL`` -- which
say where to install from (offline wheel folders included) but not what, so they are not part of
the key. pip's own ``PIP_*`` environment variables work as usual.
"""
from __future__ import annotations

import base64
import contextlib
import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

from .errors import InvalidParameterValueException

# pip options that may travel with requirement lines (as in a requirements file), and whether each
# takes a value. Anything else starting with "-" is refused: it could change what gets installed.
_SOURCE_OPTIONS = {"--find-links": True, "-f": True, "--index-url": True, "-i": True,
                   "--extra-index-url": True, "--trusted-host": True, "--no-index": False,
                   "--pre": False, "--prefer-binary": False, "--only-binary": True,
                   "--no-binary": True}
_INSTALL_TIMEOUT_S = 900.0


class LayerInstallError(InvalidParameterValueException):
    """pip could not install a function's requirements: a deploy error, carrying pip's message."""


@dataclass(frozen=True)
class Requirements:
    """Requirement lines (sorted, de-duplicated: they make the key) and pip source options."""

    pins: tuple[str, ...]
    options: tuple[str, ...] = ()

    @classmethod
    def parse(cls, items: Iterable[str] | str) -> "Requirements":
        tokens = items.split() if isinstance(items, str) else [t for i in items for t in i.split()]
        pins: set[str] = set()
        options: list[str] = []
        it = iter(tokens)
        for token in it:
            if not token.startswith("-"):
                pins.add(token)
                continue
            name, eq, value = token.partition("=")
            if name not in _SOURCE_OPTIONS:
                raise InvalidParameterValueException(
                    f"Unsupported option {token!r} in requirements: only pip's source options "
                    f"({', '.join(sorted(_SOURCE_OPTIONS))}) may go with requirement lines")
            if _SOURCE_OPTIONS[name] and not eq:
                value = next(it, "")
                if not value:
                    raise InvalidParameterValueException(f"{name} in requirements needs a value")
            options += [name, value] if _SOURCE_OPTIONS[name] else [name]
        return cls(tuple(sorted(pins)), tuple(options))

    def key(self, python_version: tuple[int, int]) -> str:
        text = "\n".join(self.pins) + "\npython%d.%d\n" % tuple(python_version)
        return "py%d.%d-" % tuple(python_version) + hashlib.sha256(text.encode()).hexdigest()[:24]


def read_requirements_file(path: str | os.PathLike) -> list[str]:
    """The lines of a requirements file (comments and blanks dropped), relative ``--find-links``
    folders made absolute, since pip later runs from another directory."""
    base = Path(path).resolve().parent
    out: list[str] = []
    for line in Path(path).read_text().splitlines():
        line = line.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split()
        if parts[0] in ("--find-links", "-f") and len(parts) == 2 and "://" not in parts[1]:
            parts[1] = str((base / parts[1]).resolve())
        out += parts
    return out


class DependencyLayers:
    """The layer store under ``root``. ``python``: the interpreter whose pip installs layers."""

    def __init__(self, root: str | os.PathLike, *, python: str = sys.executable) -> None:
        self.root = Path(root)
        self.python = python

    def path(self, requirements: Iterable[str] | str, python_version: tuple[int, int]) -> Path:
        """The folder to put on ``sys.path`` (``<root>/<key>/python``). Cheap: called per invoke."""
        return self.root / Requirements.parse(requirements).key(python_version) / "python"

    def installed(self, requirements: Iterable[str] | str,
                  python_version: tuple[int, int]) -> bool:
        return self.path(requirements, python_version).is_dir()

    def ensure(self, requirements: Iterable[str] | str, python_version: tuple[int, int]) -> Path:
        """Install the layer if it is not there yet (at deploy time, as Lambda builds a layer
        before any invoke); returns its folder. Raises LayerInstallError with pip's message."""
        reqs = Requirements.parse(requirements)
        if not reqs.pins:
            raise InvalidParameterValueException("No requirement to install (only pip options)")
        key = reqs.key(python_version)
        final = self.root / key
        if (final / "python").is_dir():
            return final / "python"
        self.root.mkdir(parents=True, exist_ok=True)
        with self._locked(key):
            if (final / "python").is_dir():  # another deploy installed it while we waited
                return final / "python"
            staging = Path(tempfile.mkdtemp(prefix=f".{key}-", dir=self.root))
            try:
                self._pip_install(reqs, python_version, staging / "python")
                (staging / "requirements.txt").write_text(
                    "".join(p + "\n" for p in reqs.pins))
                os.chmod(staging, 0o755)  # containers read it as an unprivileged user
                os.rename(staging, final)  # atomic: a layer folder is complete or absent
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return final / "python"

    def list(self) -> list[dict]:
        """The installed layers: key, requirement lines and size on disk."""
        layers = []
        for folder in sorted(self.root.glob("py*-*")):
            if (folder / "python").is_dir():
                pins = (folder / "requirements.txt").read_text().split() \
                    if (folder / "requirements.txt").exists() else []
                size = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
                layers.append({"key": folder.name, "requirements": pins, "bytes": size})
        return layers

    def _pip_install(self, reqs: Requirements, python_version: tuple[int, int],
                     target: Path) -> None:
        cmd = [self.python, "-m", "pip", "install", "--target", str(target),
               "--disable-pip-version-check", "--no-input", "--no-warn-script-location",
               "--progress-bar", "off", "--no-color", *reqs.options]
        if tuple(python_version) != self._pip_python_version():
            # Another interpreter than pip's own: pip may only pick wheels built for it.
            cmd += ["--python-version", "%d.%d" % tuple(python_version), "--only-binary=:all:"]
        cmd += list(reqs.pins)
        try:
            proc = subprocess.run(cmd, capture_output=True, text=True, timeout=_INSTALL_TIMEOUT_S,
                                  stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired:
            raise LayerInstallError(f"Installing {' '.join(reqs.pins)} took longer than "
                                    f"{_INSTALL_TIMEOUT_S:.0f} s; is the package index reachable?")
        if proc.returncode != 0:
            message = "\n".join((proc.stderr or proc.stdout).strip().splitlines()[-15:])
            raise LayerInstallError(
                f"Could not install requirements {' '.join(reqs.pins)} for Python "
                f"{python_version[0]}.{python_version[1]} (pip exited with {proc.returncode}):\n"
                f"{message}")

    def _pip_python_version(self) -> tuple[int, int]:
        if self.python == sys.executable:
            return sys.version_info[:2]
        out = subprocess.check_output([self.python, "-c",
                                       "import sys;print(*sys.version_info[:2])"], text=True)
        major, minor = out.split()
        return int(major), int(minor)

    @contextlib.contextmanager
    def _locked(self, key: str) -> Iterator[None]:
        # flock: one install per layer across threads and processes (two kernels, one home)
        with open(self.root / f".{key}.lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)


def make_wheel(dest: str | os.PathLike, name: str, version: str, files: dict[str, str]) -> Path:
    """Write a pure-Python wheel of ``files`` ({path in the wheel: source}) into folder ``dest``.

    For offline demos and tests: a package to install with ``--find-links dest --no-index``
    without setuptools or a network. Returns the wheel's path."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    contents = dict(files)
    contents[f"{info}/METADATA"] = (f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
                                    "Summary: built by nblambda.layers.make_wheel\n")
    contents[f"{info}/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: nblambda\nRoot-Is-Purelib: true\n"
                                 "Tag: py3-none-any\n")
    contents[f"{info}/top_level.txt"] = "".join(
        sorted({p.split("/")[0].removesuffix(".py") + "\n" for p in files}))
    record = []
    for path, text in contents.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    contents[f"{info}/RECORD"] = "\n".join(record) + "\n"
    wheel = dest / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_DEFLATED) as zf:
        for path, text in contents.items():
            zf.writestr(path, text)
    return wheel
