"""A function's code on disk: one folder per code hash, shared by every function with that code.

The process backend runs a sandbox in this folder, which it could write to (the docker backend
mounts a copy read-only, as Lambda's /var/task is). So the module file is made read-only, and the
folder is checked before every cold start: a file changed or added by an earlier sandbox is put
back or removed, and a new execution environment starts from the code as deployed.
"""
from __future__ import annotations

import os
import shutil
import stat
import threading
from pathlib import Path

_lock = threading.Lock()
_READ_ONLY = stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH


def _target(folder: Path, module: str) -> Path:
    return folder / (module.replace(".", "/") + ".py")


def write(root: Path, code_hash: str, module: str, source: str) -> Path:
    """The folder for ``code_hash``, written if it is not there yet."""
    folder = root / code_hash
    target = _target(folder, module)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_suffix(f".tmp{os.getpid()}.{threading.get_ident()}")
        tmp.write_text(source, encoding="utf-8")
        os.chmod(tmp, _READ_ONLY)
        os.replace(tmp, target)
    return folder


def restore(root: Path, code_hash: str, module: str, source: str) -> Path:
    """Before a cold start: the folder holds the deployed module and nothing a sandbox added."""
    folder = root / code_hash
    target = _target(folder, module)
    top = module.split(".")[0]
    expected = {top, top + ".py", "__pycache__"}
    try:
        intact = target.read_text(encoding="utf-8") == source
        extra = [name for name in os.listdir(folder) if name not in expected]
    except (OSError, UnicodeError):
        intact, extra = False, []
    if intact and not extra:
        return folder
    with _lock:
        for name in extra:
            path = folder / name
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
        if target.exists() and target.read_bytes() != source.encode("utf-8"):
            target.unlink()
        return write(root, code_hash, module, source)
