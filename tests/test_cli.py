"""The ``nblambda`` command, run as a user would run it."""
import json
import socket
import subprocess
import sys

from nblambda.platform import Platform


def nbl(home, *args, input=None):
    return subprocess.run([sys.executable, "-m", "nblambda.cli", "--home", str(home), *args],
                          capture_output=True, text=True, timeout=60)


def test_deploy_invoke_logs_describe_delete(tmp_path):
    home = tmp_path / "home"
    code = tmp_path / "fn.py"
    code.write_text("def handler(event, context):\n    print('got', event)\n    return {'twice': event['n'] * 2}\n")
    assert nbl(home, "deploy", "double", str(code), "--memory", "256", "--env", "MODE=cli").returncode == 0
    r = nbl(home, "invoke", "double", "--payload", '{"n": 21}')
    assert r.returncode == 0 and json.loads(r.stdout) == {"twice": 42}
    event = tmp_path / "event.json"
    event.write_text('{"n": 1}')
    assert json.loads(nbl(home, "invoke", "double", "--payload", f"@{event}").stdout) == {"twice": 2}
    assert "double\tpython" in nbl(home, "list").stdout
    logs = nbl(home, "logs", "double").stdout
    assert logs.count("START RequestId") == 2 and "got {'n': 21}" in logs
    described = json.loads(nbl(home, "describe", "double").stdout)
    assert described["memory"] == 256 and described["environment"] == {"MODE": "cli"}
    assert nbl(home, "delete", "double").returncode == 0
    assert nbl(home, "list").stdout == ""


def test_errors_have_exit_codes_and_messages(tmp_path):
    home = tmp_path / "home"
    missing = nbl(home, "invoke", "nope")
    assert missing.returncode == 2 and "ResourceNotFoundException" in missing.stderr
    code = tmp_path / "fn.py"
    code.write_text("def handler(event, context):\n    raise ValueError('bad')\n")
    nbl(home, "deploy", "bad", str(code))
    failed = nbl(home, "invoke", "bad")
    assert failed.returncode == 1 and json.loads(failed.stdout)["errorType"] == "ValueError"
    assert nbl(home, "deploy", "x", str(code), "--memory", "64").returncode == 2


def test_bad_env_is_a_usage_error_not_a_traceback(tmp_path):
    code = tmp_path / "fn.py"
    code.write_text("def handler(event, context):\n    return 1\n")
    r = nbl(tmp_path / "home", "deploy", "e", str(code), "--env", "NOEQUALS")
    assert r.returncode == 2 and "--env takes KEY=VALUE" in r.stderr
    assert "Traceback" not in r.stderr


def test_deploy_with_publish(tmp_path):
    code = tmp_path / "fn.py"
    code.write_text("def handler(event, context):\n    return context.function_version\n")
    home = tmp_path / "home"
    assert nbl(home, "deploy", "v", str(code), "--publish").returncode == 0
    assert json.loads(nbl(home, "invoke", "v:1").stdout) == "1"


def test_serve_refuses_bad_and_busy_ports_without_a_traceback(tmp_path):
    home = tmp_path / "home"
    for port in ("99999", "-1", "http"):
        r = nbl(home, "serve", "--port", port)
        assert r.returncode == 2 and "argument --port: invalid port" in r.stderr, r.stderr
        assert "Traceback" not in r.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        r = nbl(home, "serve", "--port", str(busy.getsockname()[1]))
    assert r.returncode == 2 and "Choose another port" in r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


def test_logs_refuses_a_count_below_one(tmp_path):
    for n in ("-1", "0"):
        r = nbl(tmp_path / "home", "logs", "any", "-n", n)
        assert r.returncode == 2 and "argument -n: invalid count" in r.stderr
        assert "Traceback" not in r.stderr


def test_invoke_qualifier_and_invocation_types(tmp_path):
    home = tmp_path / "home"
    code = tmp_path / "fn.py"
    code.write_text("def handler(event, context):\n    print('ran', event)\n"
                    "    return context.function_version\n")
    assert nbl(home, "deploy", "q", str(code), "--publish").returncode == 0
    code.write_text("def handler(event, context):\n    return 'new ' + context.function_version\n")
    assert nbl(home, "deploy", "q", str(code)).returncode == 0
    assert json.loads(nbl(home, "invoke", "q").stdout) == "new $LATEST"
    assert json.loads(nbl(home, "invoke", "q", "--qualifier", "1").stdout) == "1"
    clash = nbl(home, "invoke", "q:1", "--qualifier", "2")
    assert clash.returncode == 2 and "does not match the specified qualifier" in clash.stderr

    dry = nbl(home, "invoke", "q", "--invocation-type", "DryRun")
    assert dry.returncode == 0 and json.loads(dry.stdout) == {"StatusCode": 204}
    queued = nbl(home, "invoke", "q", "--qualifier", "1", "--invocation-type", "Event",
                 "--payload", '{"async": 1}')
    assert queued.returncode == 0, queued.stderr
    status = json.loads(queued.stdout)
    assert status["StatusCode"] == 202
    with Platform(home) as platform:  # the queue is durable: a later platform runs the event
        assert platform.wait_for_async(30)
        ran = [r for r in platform.invocations("q") if r.request_id == status["RequestId"]]
    assert len(ran) == 1 and ran[0].payload == "1" and "ran {'async': 1}" in ran[0].logs
