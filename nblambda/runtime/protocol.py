"""Framed messages between host and sandbox: one protocol for every backend.

A frame is an 8-byte prefix (header length, body length; big-endian), a small JSON header and a raw
body. Payloads and log text travel in the body, so a 6 MB event is never JSON-escaped twice.
"""
import json
import socket
import struct

_PREFIX = struct.Struct("!II")
MAX_HEADER = 1 << 20
MAX_BODY = 64 << 20


class ChannelClosed(Exception):
    """The other end went away (EOF or reset)."""


class Channel:
    def __init__(self, sock: socket.socket):
        self.sock = sock
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

    def send_fds(self, header: dict, fds: list) -> None:
        """A body-less frame carrying open descriptors (Unix sockets only)."""
        head = json.dumps(header, separators=(",", ":")).encode()
        try:
            socket.send_fds(self.sock, [_PREFIX.pack(len(head), 0) + head], fds)
        except (BrokenPipeError, ConnectionResetError) as exc:
            raise ChannelClosed(str(exc)) from None

    def _read(self, size: int, fds, flags: int = 0) -> None:
        """One recv into the buffer; with ``fds``, descriptors passed along are appended to it."""
        try:
            if fds is None:
                chunk = self.sock.recv(size, flags)
            else:
                chunk, got, _, _ = socket.recv_fds(self.sock, size, 4, flags)
                fds.extend(got)
        except ConnectionResetError as exc:
            raise ChannelClosed(str(exc)) from None
        if not chunk:
            raise ChannelClosed("end of stream")
        self._buf += chunk

    def _fill(self, n: int, fds=None) -> None:
        while len(self._buf) < n:
            self._read(max(65536, n - len(self._buf)), fds)

    def has_frame(self) -> bool:
        """A whole frame is already buffered: recv() will not touch the socket."""
        if len(self._buf) < 8:
            return False
        hlen, blen = _PREFIX.unpack_from(self._buf)
        return len(self._buf) >= 8 + hlen + blen

    def fill_nowait(self, fds=None) -> None:
        """Buffer what the socket holds now, without waiting (the caller polled it). Raises
        ChannelClosed at EOF. With ``fds``, passed descriptors are appended to it."""
        want = 65536
        if len(self._buf) >= 8:
            hlen, blen = _PREFIX.unpack_from(self._buf)
            want = max(want, min(8 + hlen + blen - len(self._buf), 8 << 20))
        try:
            self._read(want, fds, socket.MSG_DONTWAIT)
        except BlockingIOError:
            pass

    def recv(self, fds=None):
        """Next (header, body). Raises ChannelClosed at EOF, socket.timeout past the socket's timeout.

        With ``fds``, descriptors passed along with the bytes read are appended to it (the plain
        path does not ask for them; the kernel closes any that arrive unasked)."""
        self._fill(8, fds)
        hlen, blen = _PREFIX.unpack_from(self._buf)
        if hlen > MAX_HEADER or blen > MAX_BODY:
            raise ChannelClosed("frame too large: header %d, body %d bytes" % (hlen, blen))
        end = 8 + hlen + blen
        self._fill(end, fds)
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
