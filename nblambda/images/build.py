"""``nblambda image build``: the docker backend's base image, built offline.

Where no container registry can be reached, ``python:X.Y-slim`` cannot be pulled; this builds an
equivalent from the distribution's own packages instead (``build_base_image.sh``: debootstrap of a
minimal Debian with python3, then ``docker import``) and tags it ``nblambda/python:X.Y``, the name
the docker backend looks for next. The Debian release is the one whose python3 is the kernel's
major.minor, so layers installed by the kernel's pip match the image's Python.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parent / "build_base_image.sh"
# Debian releases by the python3 they ship
DEBIAN_SUITES = {(3, 9): "bullseye", (3, 11): "bookworm", (3, 13): "trixie"}


def default_tag(python_version: tuple[int, int] | None = None) -> str:
    return "nblambda/python:%d.%d" % (python_version or sys.version_info[:2])


def build_command(tag: str | None = None, python_version: tuple[int, int] | None = None,
                  suite: str | None = None) -> tuple[list[str], dict[str, str]]:
    """The script's command line and environment (``nblambda image build --dry-run`` prints it)."""
    version = tuple(python_version or sys.version_info[:2])
    if suite is None:
        suite = DEBIAN_SUITES.get(version)
        if suite is None:
            known = ", ".join("%d.%d (%s)" % (*v, s) for v, s in sorted(DEBIAN_SUITES.items()))
            raise ValueError(f"No Debian release ships Python {version[0]}.{version[1]} "
                             f"(known: {known}); pass --suite, or use --image with an image "
                             "of your own")
    env = dict(os.environ, NBLAMBDA_DEBIAN_SUITE=suite)
    return ["bash", str(SCRIPT), tag or default_tag(version)], env


def build(tag: str | None = None, python_version: tuple[int, int] | None = None,
          suite: str | None = None) -> int:
    """Run the recipe (root and a running engine needed; a few minutes). Returns its exit code."""
    cmd, env = build_command(tag, python_version, suite)
    return subprocess.call(cmd, env=env)
