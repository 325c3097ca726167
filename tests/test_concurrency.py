"""Account and reserved concurrency: throttling at exactly the limit, with AWS's reasons."""
import threading
import time

import pytest

from nblambda import InvalidParameterValueException, TooManyRequestsException

SLEEP = "import time\ndef handler(e, c):\n    time.sleep(e)\n    return e\n"


def hold(platform, name, n, seconds=1.0):
    threads = [threading.Thread(target=platform.invoke, args=(name, seconds)) for _ in range(n)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 10
    while platform.limits.in_flight(name) < n and time.monotonic() < deadline:
        time.sleep(0.01)
    return threads


def test_reserved_concurrency_throttles_at_exactly_the_limit(platform):
    platform.deploy("f", SLEEP)
    platform.put_function_concurrency("f", 2)
    assert platform.get_function_concurrency("f") == 2
    threads = hold(platform, "f", 2)
    with pytest.raises(TooManyRequestsException) as err:
        platform.invoke("f", 0)
    assert err.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert err.value.message == "Rate Exceeded." and err.value.status == 429
    for t in threads:
        t.join()
    assert platform.invoke("f", 0).payload == 0
    assert platform.limits.throttles["f"] == 1


def test_reserved_zero_disables_the_function(platform):
    platform.deploy("f", SLEEP)
    platform.put_function_concurrency("f", 0)
    with pytest.raises(TooManyRequestsException):
        platform.invoke("f", 0)
    platform.delete_function_concurrency("f")
    assert platform.get_function_concurrency("f") is None
    assert platform.invoke("f", 0).payload == 0


def test_account_limit_throttles_unreserved_functions(make_platform):
    p = make_platform(concurrency_limit=3)
    p.deploy("a", SLEEP)
    p.deploy("b", SLEEP)
    threads = hold(p, "a", 3)
    with pytest.raises(TooManyRequestsException) as err:
        p.invoke("b", 0)
    assert err.value.reason == "ConcurrentInvocationLimitExceeded"
    for t in threads:
        t.join()


def test_reservations_are_carved_out_of_the_account_limit(make_platform):
    p = make_platform(concurrency_limit=20)
    p.deploy("a", SLEEP)
    p.deploy("b", SLEEP)
    p.put_function_concurrency("a", 18)
    with pytest.raises(InvalidParameterValueException, match="below its minimum value of \\[2\\]"):
        p.put_function_concurrency("b", 1)
    threads = hold(p, "b", 2)
    with pytest.raises(TooManyRequestsException, match="Rate Exceeded"):
        p.invoke("b", 0)  # only 20 - 18 = 2 unreserved
    for t in threads:
        t.join()


def test_reserved_concurrency_survives_a_restart(tmp_path):
    from nblambda import Platform

    with Platform(tmp_path / "h") as p:
        p.deploy("f", SLEEP)
        p.put_function_concurrency("f", 0)
    with Platform(tmp_path / "h") as p2:
        assert p2.get_function_concurrency("f") == 0
        with pytest.raises(TooManyRequestsException):
            p2.invoke("f", 0)


def test_provisioned_concurrency_keeps_sandboxes_initialised(platform):
    platform.deploy("f", "import os, time\nSTART = time.time()\n"
                         "def handler(e, c):\n    return [os.getpid(), os.environ['AWS_LAMBDA_INITIALIZATION_TYPE']]\n")
    conf = platform.put_provisioned_concurrency_config("f", 2)
    assert conf["Status"] == "READY" and conf["AvailableProvisionedConcurrentExecutions"] == 2
    r = platform.invoke("f")
    assert not r.cold and r.init_duration_ms is None and "Init Duration" not in r.logs
    assert r.payload[1] == "provisioned-concurrency"
    # they are never reaped for idleness
    assert platform.pool.reap(now=platform.pool.clock() + 10_000) == 0
    assert platform.get_provisioned_concurrency_config("f")["AvailableProvisionedConcurrentExecutions"] == 2


def test_provisioned_sandboxes_are_replaced_after_a_crash_and_a_deploy(make_platform):
    p = make_platform(reap_interval=0.05)
    p.deploy("f", "import os\ndef handler(e, c):\n    if e == 'crash':\n        os._exit(1)\n    return os.getpid()\n")
    p.put_provisioned_concurrency_config("f", 1)
    assert p.invoke("f", "crash").status == "crash"
    deadline = time.monotonic() + 5
    while p.get_provisioned_concurrency_config("f")["AvailableProvisionedConcurrentExecutions"] < 1:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    assert not p.invoke("f").cold
    p.deploy("f", "def handler(e, c):\n    return 'v2'\n")
    r = p.invoke("f")
    assert r.payload == "v2" and not r.cold


def test_provisioned_cannot_exceed_reserved(platform):
    platform.deploy("f", SLEEP)
    platform.put_function_concurrency("f", 1)
    with pytest.raises(InvalidParameterValueException, match="reservedConcurrentExecution"):
        platform.put_provisioned_concurrency_config("f", 2)
