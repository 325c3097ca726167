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
