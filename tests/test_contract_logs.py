"""START / END / REPORT, captured output, streaming, memory figures and bounded logs."""
import re
import time

import pytest

from conftest import src

# The Lambda contract holds on every sandbox backend: each test runs once per backend.
pytestmark = pytest.mark.all_backends

REPORT = re.compile(r"REPORT RequestId: (?P<id>[0-9a-f-]{36})\tDuration: (?P<d>\d+\.\d{2}) ms\t"
                    r"Billed Duration: (?P<b>\d+) ms\tMemory Size: (?P<m>\d+) MB\t"
                    r"Max Memory Used: (?P<u>\d+) MB(\tInit Duration: (?P<i>\d+\.\d{2}) ms)?$")


def test_log_frame_of_a_cold_then_warm_invocation(platform):
    platform.deploy("hello", src("""
        print("module init")
        def handler(event, context):
            print("hello", event)
            return 1
    """), memory=256)
    cold = platform.invoke("hello", "world")
    lines = cold.logs.splitlines()
    assert lines[0] == "module init"  # init output precedes START, as in CloudWatch
    assert lines[1] == f"START RequestId: {cold.request_id} Version: $LATEST"
    assert lines[2] == "hello world"
    assert lines[3] == f"END RequestId: {cold.request_id}"
    m = REPORT.match(lines[4])
    assert m and m["id"] == cold.request_id and m["m"] == "256" and m["i"] is not None
    assert float(m["i"]) == round(cold.init_duration_ms, 2) or abs(float(m["i"]) - cold.init_duration_ms) < 0.01
    # Lambda bills the init phase of on-demand functions too (since August 2025)
    assert int(m["b"]) == int(-(-(cold.duration_ms + cold.init_duration_ms) // 1))
    warm = platform.invoke("hello", "again")
    lines = warm.logs.splitlines()
    assert lines[0] == f"START RequestId: {warm.request_id} Version: $LATEST"
    m = REPORT.match(lines[-1])
    assert m and m["i"] is None and warm.init_duration_ms is None
    assert int(m["b"]) == int(-(-warm.duration_ms // 1)) == warm.billed_duration_ms
    assert "module init" not in warm.logs


def test_stdout_stderr_logging_and_child_processes_are_captured(platform):
    platform.deploy("noisy", src("""
        import logging, os, subprocess, sys
        logger = logging.getLogger()
        logger.setLevel(logging.INFO)
        def handler(event, context):
            print("to stdout")
            print("to stderr", file=sys.stderr)
            os.write(1, b"raw fd write\\n")
            subprocess.run(["echo", "from a child process"])
            logger.info("an info record")
            sys.stdout.write("no newline at the end")
            return 1
    """))
    r = platform.invoke("noisy")
    for expected in ("to stdout\n", "to stderr\n", "raw fd write\n", "from a child process\n",
                     "no newline at the end\n"):
        assert expected in r.logs
    info = [l for l in r.logs.splitlines() if l.startswith("[INFO]")]
    assert len(info) == 1
    assert re.fullmatch(r"\[INFO\]\t\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z\t" + r.request_id +
                        r"\tan info record", info[0])
    assert r.logs.index("no newline at the end") < r.logs.index("END RequestId")


def test_output_of_one_invocation_does_not_leak_into_the_next(platform):
    platform.deploy("tail", src("""
        import sys
        def handler(event, context):
            sys.stdout.write("partial-%s" % event)
            return event
    """))
    first, second = platform.invoke("tail", 1), platform.invoke("tail", 2)
    assert "partial-1" in first.logs and "partial-2" not in first.logs
    assert "partial-2" in second.logs and "partial-1" not in second.logs


def test_logs_stream_while_the_handler_runs(platform):
    platform.deploy("stream", src("""
        import time
        def handler(event, context):
            print("first", flush=True)
            time.sleep(0.6)
            print("second")
            return 1
    """))
    seen = []
    platform.invoke("stream")  # warm up, so timings below exclude the cold start
    started = time.monotonic()
    r = platform.invoke("stream", on_log=lambda text: seen.append((time.monotonic() - started, text)))
    done = time.monotonic() - started
    first = [t for t, text in seen if "first" in text]
    assert first and first[0] < done - 0.4  # arrived while the handler was still sleeping
    assert any(text.startswith("START ") for _, text in seen)
    assert any(text.startswith("REPORT ") for _, text in seen)
    assert "second" in r.logs


def test_max_memory_used_is_measured(platform):
    platform.deploy("alloc", src("""
        def handler(event, context):
            block = b"x" * (event << 20)
            return len(block)
    """), memory=512)
    small = platform.invoke("alloc", 1)
    assert 5 <= small.max_memory_used_mb < 100
    big = platform.invoke("alloc", 150)
    assert 150 <= big.max_memory_used_mb < 300
    assert f"Max Memory Used: {big.max_memory_used_mb} MB" in big.logs


def test_huge_output_keeps_head_and_tail(make_platform):
    p = make_platform(log_limit=10_000)
    p.deploy("chatty", src("""
        def handler(event, context):
            for i in range(20000):
                print("line %05d" % i)
            return "done"
    """))
    r = p.invoke("chatty")
    assert r.payload == "done"
    assert "line 00000" in r.logs and "line 19999" in r.logs
    assert "line 10000" not in r.logs
    assert re.search(r"\[nblambda: \d+ characters of log output omitted here", r.logs)
    for line in r.logs.splitlines():  # the marker stands between whole lines
        assert re.fullmatch(r"line \d{5}|(START|END|REPORT) .*|\[nblambda: .*", line), line
    assert len(r.logs) < 12_000
    assert r.logs.rstrip().splitlines()[-1].startswith("REPORT ")


@pytest.mark.backends("process")  # docker reads its container's cgroup on every invocation
def test_max_memory_used_of_a_timed_out_invocation_counts_its_child_processes(platform):
    if not platform.backend("process").memory_enforcement.startswith("cgroup"):
        pytest.skip("no memory cgroup here: the watchdog measures the sandbox process alone")
    platform.deploy("parent", src("""
        import subprocess, sys
        def handler(event, context):
            subprocess.run([sys.executable, "-c",
                            "x = bytearray(100 << 20); import time; time.sleep(10)"])
    """), memory=256, timeout=2)
    r = platform.invoke("parent")
    assert r.status == "timeout"
    assert 100 <= r.max_memory_used_mb <= 256
