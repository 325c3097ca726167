"""State survives a kernel restart: a new Platform on the same home sees everything."""
from conftest import src
from nblambda import Platform


def test_functions_and_history_survive_a_restart(tmp_path):
    home = tmp_path / "home"
    with Platform(home) as p:
        p.deploy("adder", src("""
            def handler(event, context):
                print("adding", event)
                return event["a"] + event["b"]
        """), memory=256, timeout=5, environment={"MODE": "test"})
        ok = p.invoke("adder", {"a": 1, "b": 2})
        bad = p.invoke("adder", {"a": 1})
    with Platform(home) as p2:
        [fn] = p2.list_functions()
        assert (fn.name, fn.memory, fn.timeout, fn.environment) == ("adder", 256, 5, {"MODE": "test"})
        assert fn.code_hash == p2.get_function("adder").code_hash
        history = p2.invocations("adder")
        assert [r.request_id for r in history] == [bad.request_id, ok.request_id]
        assert history[1].payload == 3 and history[1].status == "success"
        assert history[1].logs == ok.logs and "adding {'a': 1, 'b': 2}" in history[1].logs
        assert history[1].cold is True and history[1].init_duration_ms == ok.init_duration_ms
        assert history[1].max_memory_used_mb == ok.max_memory_used_mb
        assert history[0].error_type == "KeyError" and history[0].payload is None
        assert history[0].error == bad.error
        again = p2.invoke("adder", {"a": 40, "b": 2})
        assert again.payload == 42 and again.cold
        assert len(p2.invocations("adder")) == 3


def test_code_folder_is_recreated_if_missing(tmp_path):
    import shutil

    home = tmp_path / "home"
    with Platform(home) as p:
        p.deploy("f", "def handler(e, c):\n    return 'here'\n")
        assert p.invoke("f").payload == "here"  # its code folder is written for the sandbox
    assert list((home / "code").iterdir())
    shutil.rmtree(home / "code")
    with Platform(home) as p2:
        assert p2.invoke("f").payload == "here"


def test_history_is_bounded_by_retention(tmp_path):
    with Platform(tmp_path / "home", retention=5) as p:
        p.deploy("f", "def handler(e, c):\n    return e\n")
        ids = [p.invoke("f", i).request_id for i in range(12)]
        history = p.invocations("f", limit=100)
        assert [r.request_id for r in history] == ids[::-1][:5]


def test_binary_results_round_trip_through_the_store(tmp_path):
    with Platform(tmp_path / "home") as p:
        p.deploy("b", "def handler(e, c):\n    return b'\\x00\\x01'\n")
        p.invoke("b")
    with Platform(tmp_path / "home") as p2:
        assert p2.invocations("b")[0].payload == b"\x00\x01"


def test_delete_removes_function_and_history(tmp_path):
    with Platform(tmp_path / "home") as p:
        p.deploy("gone", "def handler(e, c):\n    return 1\n")
        p.invoke("gone")
        p.delete_function("gone")
    with Platform(tmp_path / "home") as p2:
        assert p2.list_functions() == []
        assert p2.invocations() == []


def test_two_platforms_in_one_process_do_not_disturb_each_other(tmp_path):
    first = Platform(tmp_path / "a")
    second = Platform(tmp_path / "b")
    same_home = Platform(tmp_path / "a")
    try:
        for p in (first, second, same_home):
            p.deploy("echo", "def handler(e, c):\n    return e\n")
            assert p.invoke("echo", 1).payload == 1
        second.put_function_concurrency("echo", 0)
        second.invoke("echo", "later", invocation_type="Event")
        first.close()
        for p in (second, same_home):  # cold starts need their own cgroup folder, still there
            p.deploy("fresh", "def handler(e, c):\n    return 'ok'\n")
            assert p.invoke("fresh").payload == "ok"
        same_home.invoke("echo", "queued", invocation_type="Event")
        assert same_home.wait_for_async(10)
        second.delete_function_concurrency("echo")
        assert second.wait_for_async(10)
        assert second.invocations("echo")[0].payload == "later"
    finally:
        for p in (first, second, same_home):
            p.close()


def test_a_running_platform_sees_deploys_and_deletes_made_by_another_process(tmp_path):
    # The README's workflow: a server (or a kernel) keeps running while the CLI changes functions.
    import subprocess
    import sys

    import pytest

    from nblambda.errors import ResourceNotFoundException, TooManyRequestsException

    home = tmp_path / "home"
    code = tmp_path / "fn.py"

    def cli(*args):
        out = subprocess.run([sys.executable, "-m", "nblambda.cli", "--home", str(home), *args],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr

    server = Platform(home)
    try:
        code.write_text("def handler(e, c):\n    return 'v1'\n")
        cli("deploy", "fn", str(code))
        assert server.invoke("fn").payload == "v1"
        code.write_text("def handler(e, c):\n    return 'v2'\n")
        cli("deploy", "fn", str(code), "--memory", "256")
        r = server.invoke("fn")
        assert (r.payload, r.memory_size_mb, r.cold) == ("v2", 256, True)
        other = Platform(home)  # a second kernel on the same home: reserved concurrency is shared
        other.put_function_concurrency("fn", 0)
        other.close()
        with pytest.raises(TooManyRequestsException):
            server.invoke("fn")
        cli("delete", "fn")
        with pytest.raises(ResourceNotFoundException):
            server.invoke("fn")
        with pytest.raises(ResourceNotFoundException):
            server.get_function("fn")
    finally:
        server.close()
