"""Fork server: a process with the runtime already imported that forks one sandbox per request.

A cold start is then a fork plus the user's init, not a new interpreter. The host talks to it over a
SOCK_SEQPACKET socket (one JSON message per packet; a spawn request carries the sandbox's socket as
a passed descriptor). The zygote reaps its children and reports each exit status, because only a
parent can; when the host goes away (EOF), it kills every sandbox it made and exits.
"""
import ctypes
import errno
import json
import os
import select
import signal
import socket
import sys

# Pre-import what a sandbox needs, and what most handlers import, so forks start warm.
import base64  # noqa: F401
import datetime  # noqa: F401
import decimal  # noqa: F401
import logging  # noqa: F401
import traceback  # noqa: F401
import uuid  # noqa: F401

from . import bootstrap

_PR_SET_PDEATHSIG = 1


def _die_with_parent():
    """Linux: the kernel SIGKILLs this process when its parent (the zygote) dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _join_cgroups(paths):
    for path in paths:
        try:
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
        except OSError as exc:
            sys.stderr.write("nblambda: cannot join cgroup %s: %s\n" % (path, exc))


def _child(ctrl, wake_r, wake_w, sandbox_fd, request):
    signal.set_wakeup_fd(-1)
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    for fd in (wake_r, wake_w):
        os.close(fd)
    ctrl.close()
    os.setsid()
    _die_with_parent()
    if os.getppid() == 1:
        os._exit(1)
    _join_cgroups(request.get("cgroups", []))
    bootstrap.run(socket.socket(fileno=sandbox_fd))


def _kill_group(pid):
    try:
        os.killpg(pid, signal.SIGKILL)
    except OSError:
        pass


def main(ctrl_fd):
    ctrl = socket.socket(fileno=ctrl_fd)
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    children = set()

    def send(msg):
        try:
            ctrl.send(json.dumps(msg).encode())
        except OSError:
            pass

    def reap():
        while children:
            # Peek first: while the sandbox is a zombie its pid cannot be reused, so killing its
            # process group cannot hit a stranger. A sandbox that exits on its own (it saw the
            # host go away) must not leave its own children running under init.
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            _kill_group(info.si_pid)
            try:
                pid, status = os.waitpid(info.si_pid, 0)
            except ChildProcessError:
                return
            children.discard(pid)
            send({"t": "exited", "pid": pid, "status": status})

    def shutdown():
        for pid in list(children):
            _kill_group(pid)
        for pid in list(children):
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
        os._exit(0)

    send({"t": "ready", "pid": os.getpid()})
    while True:
        try:
            readable, _, _ = select.select([ctrl, wake_r], [], [])
        except InterruptedError:
            continue
        if wake_r in readable:
            try:
                while os.read(wake_r, 4096):
                    pass
            except BlockingIOError:
                pass
            reap()
        if ctrl not in readable:
            continue
        try:
            data, fds, _, _ = socket.recv_fds(ctrl, 65536, 4)
        except OSError as exc:
            if exc.errno == errno.EINTR:
                continue
            shutdown()
        if not data:
            shutdown()
        request = json.loads(data)
        if request["t"] == "spawn":
            pid = os.fork()
            if pid == 0:
                _child(ctrl, wake_r, wake_w, fds[0], request)
            children.add(pid)
            for fd in fds:
                os.close(fd)
            send({"t": "spawned", "id": request["id"], "pid": pid})
        elif request["t"] == "exit":
            shutdown()
