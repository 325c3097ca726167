"""The host's reading of a sandbox's log pipe: whole lines, long lines cut, bytes never lost."""
import os

from nblambda.sandbox.logstream import MAX_LINE, LogStream


def pipe_stream():
    read_fd, write_fd = os.pipe()
    return LogStream(read_fd), write_fd


def write_while_reading(stream, w, data, got):
    """The pipe holds 64 KB: write in pieces, reading as the host does while it fills."""
    written = 0
    while written < len(data):
        written += os.write(w, data[written:written + 32768])
        stream.read(got.append)


def test_only_whole_lines_until_the_end_then_the_rest_with_a_newline():
    stream, w = pipe_stream()
    got = []
    os.write(w, "one\ntw".encode())
    stream.read(got.append)
    os.write(w, "o\nthree é".encode())
    stream.read(got.append)
    assert got == ["one\n", "two\n"]
    stream.read(got.append, final=True)
    assert got[-1] == "three é\n"
    stream.read(got.append, final=True)  # nothing more: nothing sent
    assert len(got) == 3
    os.close(w)
    stream.read(got.append)
    assert stream.eof
    stream.close()


def test_a_line_longer_than_lambdas_limit_is_not_held_back():
    stream, w = pipe_stream()
    got = []
    data = b"x" * (MAX_LINE + 10)
    write_while_reading(stream, w, data, got)
    assert "".join(got) == data.decode()
    os.close(w)
    stream.close()


def test_bytes_that_are_not_utf8_are_replaced_not_dropped():
    stream, w = pipe_stream()
    got = []
    os.write(w, b"caf\xe9\n")
    stream.read(got.append)
    assert got == ["caf\ufffd\n"]
    os.close(w)
    stream.close()


def test_a_cut_long_line_still_ends_before_the_next_record():
    stream, w = pipe_stream()
    got = []
    data = b"y" * (MAX_LINE + 10)
    write_while_reading(stream, w, data, got)
    stream.read(got.append, final=True)
    assert "".join(got) == data.decode() + "\n"  # END RequestId starts on a line of its own
    os.close(w)
    stream.close()
