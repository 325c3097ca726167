"""nblambda inside Jupyter: the kernel's Platform, the magics, widgets and rich displays.

One Platform per kernel, created on first use (``Platform()`` reads ``$NBLAMBDA_HOME``, else
``~/.nblambda``) and closed by ``%unload_ext nblambda``. Magics and widgets are thin clients of it.
"""
from __future__ import annotations

import threading

from ..platform import Platform

__all__ = ["get_platform", "set_platform", "close_platform"]

_lock = threading.Lock()
_platform: Platform | None = None


def get_platform() -> Platform:
    """The kernel's Platform, created on first use (and again if someone closed it)."""
    global _platform
    with _lock:
        if _platform is None or _platform.closed:
            _platform = Platform()
        return _platform


def set_platform(platform: Platform) -> Platform | None:
    """Make ``platform`` the one the magics and widgets use (e.g. another home or backend).

    Returns the previous one, still open: whoever created it decides when to close it."""
    global _platform
    with _lock:
        previous, _platform = _platform, platform
    return previous


def close_platform() -> None:
    """Close the kernel's Platform, if one was created: its sandboxes and fork server stop."""
    global _platform
    with _lock:
        platform, _platform = _platform, None
    if platform is not None:
        platform.close()
