"""Framed messages between host and sandbox: one protocol for every backend.

A frame is an 8-byte prefix (header length, body length; big-endian), a small JSON header and a raw
body. Payloads and log text travel in the body, so a 6 MB event is never JSON-escaped twice.
"""
import json
import socket
import struct
import time

_PREFIX = struct.Struct("!II")
MAX_HEADER = 1 << 20
MAX_BODY = 64 << 20


class ChannelClosed(Exception):
    """The other end went away (EOF or reset)."""


_DONTWAIT = getattr(socket, "MSG_DONTWAIT", 0)


class Channel:
    """``spin``: seconds to poll for the next frame before blocking. Waking a sleeping process on
    another CPU costs tens of microseconds (far more in a VM); a short poll after each message
    keeps back-to-back invocations off that path."""

    def __init__(self, sock: socket.socket, spin: float = 0.0):
        self.sock = sock
        self.spin = spin if _DONTWAIT else 0.0
        self._buf = bytearray()

    def send(self, header: dict, body: bytes = b"") -> None:
        head = json.dumps(header, separators=(",", ":")).encode()
        try:
            self.sock.sendall(_PREFIX.pack(len(head), len(body)) + head + body
                              if len(body) < 65536 else _PREFIX.pack(len(head), len(body)) + head)
            if len(body) >= 65536:
                self.sock.sendall(body)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ChannelClosed(str(exc)) from None

    def _poll(self, n: int) -> None:
        end = time.perf_counter() + self.spin
        buf = self._buf
        while len(buf) < n and time.perf_counter() < end:
            try:
                chunk = self.sock.recv(max(65536, n - len(buf)), _DONTWAIT)
            except (BlockingIOError, InterruptedError):
                continue
            except ConnectionResetError as exc:
                raise ChannelClosed(str(exc)) from None
            if not chunk:
                raise ChannelClosed("end of stream")
            buf += chunk

    def _fill(self, n: int) -> None:
        buf = self._buf
        if self.spin and len(buf) < n:
            self._poll(n)
        while len(buf) < n:
            try:
                chunk = self.sock.recv(max(65536, n - len(buf)))
            except ConnectionResetError as exc:
                raise ChannelClosed(str(exc)) from None
            if not chunk:
                raise ChannelClosed("end of stream")
            buf += chunk

    def recv(self):
        """Next (header, body). Raises ChannelClosed at EOF, socket.timeout past the socket's timeout."""
        self._fill(8)
        hlen, blen = _PREFIX.unpack_from(self._buf)
        if hlen > MAX_HEADER or blen > MAX_BODY:
            raise ChannelClosed("frame too large: header %d, body %d bytes" % (hlen, blen))
        end = 8 + hlen + blen
        self._fill(end)
        buf = self._buf
        header = json.loads(bytes(buf[8:8 + hlen]))
        body = bytes(buf[8 + hlen:end])
        del buf[:end]
        return header, body

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
