"""The AWS CLI (awscli package) and the ``nblambda serve`` / ``nblambda logs --follow`` commands,
run as a shell user would run them."""
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time


from apiserver import as_json, aws_cli, client, platform, server, zip_of  # noqa: F401

CODE = "def handler(event, context):\n    print('cli saw', event)\n    return {'sum': sum(event['n'])}\n"


def test_aws_cli_create_invoke_version_alias_list(server, tmp_path):
    (tmp_path / "fn.zip").write_bytes(zip_of({"lambda_function.py": CODE}))
    created = as_json(aws_cli(server.endpoint, tmp_path, "create-function",
                              "--function-name", "cli-sum", "--runtime", "python3.11",
                              "--role", "arn:aws:iam::000000000000:role/cli",
                              "--handler", "lambda_function.handler",
                              "--zip-file", "fileb://fn.zip", "--memory-size", "256"))
    assert created["FunctionName"] == "cli-sum" and created["MemorySize"] == 256
    invoked = as_json(aws_cli(server.endpoint, tmp_path, "invoke", "--function-name", "cli-sum",
                              "--payload", '{"n": [1, 2, 3]}', "--log-type", "Tail", "out.json"))
    assert invoked["StatusCode"] == 200 and invoked["ExecutedVersion"] == "$LATEST"
    assert json.loads((tmp_path / "out.json").read_text()) == {"sum": 6}
    import base64
    assert "cli saw" in base64.b64decode(invoked["LogResult"]).decode()
    version = as_json(aws_cli(server.endpoint, tmp_path, "publish-version",
                              "--function-name", "cli-sum"))
    assert version["Version"] == "1"
    alias = as_json(aws_cli(server.endpoint, tmp_path, "create-alias", "--function-name",
                            "cli-sum", "--name", "prod", "--function-version", "1"))
    assert alias["AliasArn"].endswith(":cli-sum:prod")
    listed = as_json(aws_cli(server.endpoint, tmp_path, "list-functions"))
    assert "cli-sum" in [f["FunctionName"] for f in listed["Functions"]]


def test_aws_cli_paginates_list_functions(server, platform, tmp_path):
    for i in range(3):
        platform.deploy(f"cli-page-{i}", CODE)
    listed = as_json(aws_cli(server.endpoint, tmp_path, "list-functions", "--page-size", "1"))
    names = [f["FunctionName"] for f in listed["Functions"]]  # the CLI follows NextMarker
    assert {"cli-page-0", "cli-page-1", "cli-page-2"} <= set(names)
    assert len(names) == len(set(names))


def test_aws_cli_reports_errors_with_exit_code(server, tmp_path):
    missing = aws_cli(server.endpoint, tmp_path, "get-function", "--function-name", "nowhere")
    assert missing.returncode in (254, 255)  # AWS CLI v2 / v1: "the service returned an error"
    assert "ResourceNotFoundException" in missing.stderr and "Function not found" in missing.stderr


def _start_serve(home, *extra):
    proc = subprocess.Popen([sys.executable, "-m", "nblambda.cli", "--home", str(home), "serve",
                             "--port", "0", *extra], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    match = re.search(r"serving (http://\S+)", line)
    assert match, line + (proc.stderr.read() if proc.poll() is not None else "")
    return proc, match.group(1)


def test_nblambda_serve_and_logs_follow(tmp_path):
    home = tmp_path / "home"
    proc, endpoint = _start_serve(home)
    follower = None
    try:
        lam = client(endpoint)
        lam.create_function(FunctionName="served", Runtime="python3.11", Role="r",
                            Handler="lambda_function.handler",
                            Code={"ZipFile": zip_of({"lambda_function.py": CODE})})
        lam.invoke(FunctionName="served", Payload=b'{"n": [1]}')
        follower = subprocess.Popen([sys.executable, "-m", "nblambda.cli", "--home", str(home),
                                     "logs", "served", "--follow"], stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, text=True)
        reader = LineReader(follower)
        assert "cli saw {'n': [1]}" in reader.wait_for("REPORT RequestId")
        lam.invoke(FunctionName="served", Payload=b'{"n": [2, 2]}')
        assert "cli saw {'n': [2, 2]}" in reader.wait_for("REPORT RequestId", count=2)
        follower.send_signal(signal.SIGINT)
        assert follower.wait(10) == 130
    finally:
        if follower is not None and follower.poll() is None:
            follower.kill()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(15) == 130  # Ctrl-C, after a graceful shutdown
    assert "Traceback" not in proc.stderr.read()


def test_nblambda_serve_stops_cleanly_on_sigterm(tmp_path):
    proc, endpoint = _start_serve(tmp_path / "home")
    assert client(endpoint).list_functions()["Functions"] == []
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(15) == 143
    assert "Traceback" not in proc.stderr.read()


class LineReader:
    """Collects a process's stdout lines from a thread, so a test can wait for a marker."""

    def __init__(self, proc):
        self.lines = []
        self.thread = threading.Thread(target=self._pump, args=(proc,), daemon=True)
        self.thread.start()

    def _pump(self, proc):
        for line in proc.stdout:
            self.lines.append(line)

    def wait_for(self, marker, count=1, timeout=20.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            text = "".join(self.lines)
            if text.count(marker) >= count:
                return text
            time.sleep(0.05)
        raise AssertionError(f"{marker!r} x{count} not seen in: {''.join(self.lines)}")


def test_nblambda_serve_refuses_open_binding_without_keys(tmp_path):
    r = subprocess.run([sys.executable, "-m", "nblambda.cli", "--home", str(tmp_path / "h"),
                        "serve", "--host", "0.0.0.0", "--port", "0"],
                       capture_output=True, text=True, timeout=60,
                       env={k: v for k, v in os.environ.items() if not k.startswith("NBLAMBDA_")})
    assert r.returncode == 2 and "access key pair" in r.stderr


def test_nblambda_serve_reports_a_busy_port(server, tmp_path):
    r = subprocess.run([sys.executable, "-m", "nblambda.cli", "--home", str(tmp_path / "h"),
                        "serve", "--port", str(server.port)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "Choose another port" in r.stderr
