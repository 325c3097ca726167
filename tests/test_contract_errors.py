"""The error table of LAMBDA_CONTRACT.md: one test per row, plus recovery after each."""
import pytest

from conftest import src

# The Lambda contract holds on every sandbox backend: each test runs once per backend.
pytestmark = pytest.mark.all_backends


def test_handler_raises(platform):
    platform.deploy("raiser", src("""
        def helper():
            raise ValueError("x")

        def handler(event, context):
            helper()
    """))
    r = platform.invoke("raiser")
    assert r.status == "error"
    assert r.error["errorType"] == "ValueError"
    assert r.error["errorMessage"] == "x"
    assert r.error["requestId"] == r.request_id
    trace = r.error["stackTrace"]
    assert len(trace) == 2  # the user's two frames, none of the runtime's
    assert trace[0].startswith('  File "') and "lambda_function.py\", line 5, in handler" in trace[0]
    assert "in helper\n    raise ValueError(\"x\")\n" in trace[1]
    assert not any("nblambda/runtime" in line for line in trace)
    assert r.function_error == "Unhandled"


def test_error_is_logged_as_lambda_does(platform):
    platform.deploy("raiser", src("""
        def handler(event, context):
            raise KeyError("missing")
    """))
    r = platform.invoke("raiser")
    assert "[ERROR] KeyError: 'missing'\nTraceback (most recent call last):\n" in r.logs
    # awslambdaric indents traceback lines with NO-BREAK SPACEs
    assert '\n\u00a0\u00a0File "' in r.logs


def test_syntax_error(platform):
    platform.deploy("syntax", "def handler(event, context)\n    return 1\n")
    r = platform.invoke("syntax")
    assert r.error["errorType"] == "Runtime.UserCodeSyntaxError"
    assert r.error["errorMessage"].startswith("Syntax error in module 'lambda_function': ")
    assert "line 1" in r.error["errorMessage"]
    assert r.error["stackTrace"][0].startswith('  File "') and " Line 1\n" in r.error["stackTrace"][0]
    assert "[ERROR] Runtime.UserCodeSyntaxError: Syntax error in module" in r.logs


def test_import_fails(platform):
    platform.deploy("imp", "import no_such_module_xyz\ndef handler(e, c):\n    return 1\n")
    r = platform.invoke("imp")
    assert r.error == {"errorMessage": "Unable to import module 'lambda_function': "
                                       "No module named 'no_such_module_xyz'",
                       "errorType": "Runtime.ImportModuleError", "requestId": "",
                       "stackTrace": []}
    assert "Status: error\tError Type: Runtime.ImportModuleError" in r.logs
    assert r.cold


def test_module_level_code_raises(platform):
    # awslambdaric catches only ImportError and SyntaxError while importing the handler's module;
    # any other exception is reported with its own type, as AWS does.
    platform.deploy("modraise", "import os\nTABLE = os.environ['TABLE_NAME']\n"
                                "def handler(e, c):\n    return 1\n")
    r = platform.invoke("modraise")
    assert r.error["errorType"] == "KeyError"
    assert r.error["errorMessage"] == "'TABLE_NAME'"
    assert any("lambda_function.py\", line 2, in <module>" in f for f in r.error["stackTrace"])


def test_init_error_destroys_the_sandbox_and_is_retried_cold(platform):
    platform.deploy("imp", "import no_such_module_xyz\ndef handler(e, c):\n    return 1\n")
    assert platform.invoke("imp").cold
    assert platform.invoke("imp").cold
    assert platform.stats()["idle"] == 0


def test_handler_missing(platform):
    platform.deploy("nohandler", "def other(e, c):\n    return 1\n")
    r = platform.invoke("nohandler")
    assert r.error["errorType"] == "Runtime.HandlerNotFound"
    assert r.error["errorMessage"] == "Handler 'handler' missing on module 'lambda_function'"


def test_timeout(platform):
    platform.deploy("slow", src("""
        import time
        def handler(event, context):
            print("started")
            time.sleep(10)
    """), timeout=1)
    r = platform.invoke("slow")
    assert r.status == "timeout"
    assert r.error == {
        "errorMessage": f"RequestId: {r.request_id} Error: Task timed out after 1.00 seconds",
        "errorType": "Sandbox.Timedout", "requestId": r.request_id, "stackTrace": []}
    lines = r.logs.splitlines()
    assert "started" in lines
    timeout_line = [l for l in lines if l.endswith(f"{r.request_id} Task timed out after 1.00 seconds")]
    assert len(timeout_line) == 1 and timeout_line[0][:4].isdigit() and "Z " in timeout_line[0]
    assert lines.index(timeout_line[0]) < lines.index(f"END RequestId: {r.request_id}")
    assert lines[-1].endswith("\tStatus: timeout")
    assert 1000 <= r.duration_ms < 1500


def test_an_init_over_lambdas_limit_is_run_again_within_the_function_timeout(platform):
    # Lambda gives the Init phase 10 s; past that it runs init again when the invocation starts,
    # and the function's timeout then covers init and handler. (0.5 s here instead of 10.)
    platform.pool.init_timeout = 0.5
    platform.deploy("heavy_import", src("""
        import time
        print("loading")
        time.sleep(1.0)
        def handler(event, context):
            return context.get_remaining_time_in_millis()
    """), timeout=4)
    r = platform.invoke("heavy_import")
    assert r.status == "success" and r.cold
    assert 1000 < r.duration_ms < 4000 and r.init_duration_ms is None
    assert 0 < r.payload < 4000 - 900  # the re-run init used part of the function's time
    lines = r.logs.splitlines()
    report = [l for l in lines if l.startswith("INIT_REPORT Init Duration: ")]
    assert len(report) == 1 and report[0].endswith("\tPhase: init\tStatus: timeout")
    assert lines.index(report[0]) < lines.index(f"START RequestId: {r.request_id} Version: $LATEST")
    assert lines.count("loading") == 2  # once per attempt
    assert platform.invoke("heavy_import").cold is False

    platform.deploy("endless_init", "import time\ntime.sleep(30)\ndef handler(e, c):\n    pass\n",
                    timeout=1)
    r = platform.invoke("endless_init")
    assert r.status == "timeout" and r.duration_ms == 1000.0
    assert r.error == {
        "errorMessage": f"RequestId: {r.request_id} Error: Task timed out after 1.00 seconds",
        "errorType": "Sandbox.Timedout", "requestId": r.request_id, "stackTrace": []}
    assert r.logs.splitlines()[-1].endswith("\tStatus: timeout")


def test_after_a_timeout_the_next_invoke_is_cold_and_works(platform):
    platform.deploy("maybe_slow", src("""
        import time
        def handler(event, context):
            time.sleep(event)
            return "done"
    """), timeout=1)
    assert platform.invoke("maybe_slow", 5).status == "timeout"
    r = platform.invoke("maybe_slow", 0)
    assert r.payload == "done" and r.cold


OOM = src("""
    def handler(event, context):
        print("allocating")
        hog = []
        while True:
            hog.append(b"x" * (8 << 20))
""")


@pytest.mark.parametrize("enforcement", [
    "auto", pytest.param("watchdog", marks=pytest.mark.backends("process"))])  # a process mode
def test_out_of_memory(make_platform, enforcement):
    p = make_platform(memory_enforcement=enforcement)
    p.deploy("hog", OOM, memory=128, timeout=20)
    r = p.invoke("hog")
    assert r.status == "oom"
    assert r.error == {
        "errorMessage": f"RequestId: {r.request_id} Error: Runtime exited with error: signal: killed",
        "errorType": "Runtime.OutOfMemory", "requestId": r.request_id, "stackTrace": []}
    assert r.logs.splitlines()[-1].endswith("\tStatus: error\tError Type: Runtime.OutOfMemory")
    assert "allocating" in r.logs.splitlines()  # written before the kill, kept as on Lambda
    assert r.logs.splitlines()[-4:-2] == [r.error["errorMessage"], "Runtime.OutOfMemory"]
    assert r.max_memory_used_mb == 128
    p.deploy("ok", "def handler(e, c):\n    return 'still serving'\n")
    assert p.invoke("ok").payload == "still serving"


@pytest.mark.backends("process")  # how the process backend limits memory; docker always has one
def test_memory_enforcement_uses_a_cgroup_where_possible(make_platform):
    from nblambda.sandbox.cgroups import MemoryCgroups

    p = make_platform()
    expected = MemoryCgroups.detect()
    mode = p.backend("process").memory_enforcement
    if expected is None:
        assert mode == "watchdog"
    else:
        expected.close()
        assert mode.startswith("cgroup")


def test_process_exits(platform):
    platform.deploy("quitter", "import os\ndef handler(e, c):\n    os._exit(3)\n")
    r = platform.invoke("quitter")
    assert r.status == "crash"
    assert r.error["errorType"] == "Runtime.ExitError"
    assert r.error["errorMessage"] == \
        f"RequestId: {r.request_id} Error: Runtime exited with error: exit status 3"


def test_what_a_function_wrote_before_it_died_is_in_its_log(platform):
    # On Lambda the log pipe outlives the runtime: lines written just before a crash, or an
    # unterminated line cut off by the timeout, are still in the function's log.
    platform.deploy("last_words", src("""
        import os, sys, time
        print("module init")
        def handler(event, context):
            print("last words")
            sys.stdout.write("no newline é€")
            if event == "crash":
                os._exit(3)
            time.sleep(10)
    """), timeout=1)
    for how, status in (("crash", "crash"), ("hang", "timeout")):
        r = platform.invoke("last_words", how)
        assert r.status == status
        lines = r.logs.splitlines()
        assert lines[0] == "module init" and lines[1].startswith("START ")
        assert lines[2:4] == ["last words", "no newline é€"], r.logs
        if status == "crash":  # then why the runtime went away, as Lambda logs it
            assert lines[4:6] == [r.error["errorMessage"], "Runtime.ExitError"]
            assert r.error["errorMessage"].endswith("Runtime exited with error: exit status 3")
        else:
            assert lines[4].endswith("Task timed out after 1.00 seconds")
    platform.deploy("init_dies", "import os\nprint('init words')\nos._exit(2)\n"
                                 "def handler(e, c):\n    pass\n")
    r = platform.invoke("init_dies")
    assert r.status == "crash" and r.logs.splitlines()[0] == "init words"


def test_sys_exit_ends_the_runtime_with_its_status(platform):
    # awslambdaric does not catch SystemExit: the runtime process exits and Lambda reports it
    for code, message in (("3", "Runtime exited with error: exit status 3"),
                          ("'bye'", "Runtime exited with error: exit status 1"),
                          ("", "Runtime exited without providing a reason")):
        platform.deploy("quits", f"import sys\ndef handler(e, c):\n    sys.exit({code})\n")
        r = platform.invoke("quits")
        assert (r.status, r.error["errorType"]) == ("crash", "Runtime.ExitError")
        assert r.error["errorMessage"] == f"RequestId: {r.request_id} Error: {message}"
        assert ("bye" in r.logs.splitlines()) == (code == "'bye'")


def test_process_crashes_with_a_signal(platform):
    platform.deploy("segv", "import ctypes\ndef handler(e, c):\n    ctypes.string_at(0)\n")
    r = platform.invoke("segv")
    assert r.error["errorType"] == "Runtime.ExitError"
    assert r.error["errorMessage"] == \
        f"RequestId: {r.request_id} Error: Runtime exited with error: signal: segmentation fault"
    platform.deploy("ok", "def handler(e, c):\n    return 'ok'\n")
    assert platform.invoke("ok").payload == "ok"


def test_response_over_6mb(platform):
    platform.deploy("big", "def handler(e, c):\n    return 'x' * (6 * 1024 * 1024 + 100)\n")
    r = platform.invoke("big")
    assert r.error["errorType"] == "Function.ResponseSizeTooLarge"
    assert r.error["errorMessage"] == \
        "Response payload size exceeded maximum allowed payload size (6291556 bytes)."


def test_response_just_under_the_limit_is_returned(platform):
    platform.deploy("big", "def handler(e, c):\n    return 'x' * (6291556 - 2)\n", memory=512)
    r = platform.invoke("big")
    assert r.error is None and len(r.raw_payload) == 6291556
