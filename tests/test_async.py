"""Asynchronous invocation: durable queue, retries, event age, destinations, DLQ, crash recovery."""
import json
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from nblambda import (InvalidParameterValueException, Platform, RequestTooLargeException,
                      ResourceNotFoundException)

FAIL = "def handler(event, context):\n    raise ValueError('nope')\n"
SINK = "def handler(event, context):\n    return event\n"


@pytest.fixture
def fast(make_platform):
    """Lambda's 1 and 2 minute retry delays scaled down 50x: 1.2 s and 2.4 s."""
    return make_platform(retry_delay_factor=0.02)


def attempts_of(p, name, request_id):
    return sorted((r for r in p.invocations(name, limit=100) if r.request_id == request_id),
                  key=lambda r: r.started_at)


def test_event_returns_202_at_once_and_runs_later(fast):
    fast.deploy("slow", "import time\ndef handler(e, c):\n    time.sleep(0.5)\n    return e\n")
    started = time.monotonic()
    r = fast.invoke("slow", {"k": 1}, invocation_type="Event")
    assert time.monotonic() - started < 0.2
    assert r.status == "queued" and r.status_code == 202 and r.payload is None
    assert fast.wait_for_async(10)
    [done] = fast.invocations("slow")
    assert done.request_id == r.request_id and done.payload == {"k": 1} and done.status_code == 200


def test_dry_run_validates_without_running(fast):
    fast.deploy("f", SINK)
    r = fast.invoke("f", {"k": 1}, invocation_type="DryRun")
    assert r.status == "dryrun" and r.status_code == 204
    assert fast.invocations("f") == [] and fast.queued_events() == []
    with pytest.raises(ResourceNotFoundException):
        fast.invoke("nope", invocation_type="DryRun")
    with pytest.raises(RequestTooLargeException):
        fast.invoke("f", "x" * (6 << 20), invocation_type="DryRun")
    with pytest.raises(InvalidParameterValueException, match="invocationType"):
        fast.invoke("f", invocation_type="Sometimes")


def test_async_payload_limit_is_1mb(fast):
    fast.deploy("f", SINK)
    with pytest.raises(RequestTooLargeException):
        fast.invoke("f", "x" * (1 << 20), invocation_type="Event")
    assert fast.invoke("f", "x" * 1000, invocation_type="Event").status_code == 202


def test_function_errors_are_retried_twice_after_scaled_delays(fast):
    fast.deploy("bad", FAIL)
    r = fast.invoke("bad", {"n": 1}, invocation_type="Event")
    assert fast.wait_for_async(20)
    tries = attempts_of(fast, "bad", r.request_id)
    assert len(tries) == 3  # the first attempt and Lambda's default two retries
    gaps = [b.started_at - a.started_at for a, b in zip(tries, tries[1:])]
    assert 1.1 < gaps[0] < 1.9 and 2.3 < gaps[1] < 3.2, gaps
    [letter] = fast.dead_letters("bad")
    assert letter.condition == "RetriesExhausted"
    assert letter.record["requestContext"]["approximateInvokeCount"] == 3


def test_retry_attempts_are_configurable(fast):
    fast.deploy("bad", FAIL)
    fast.put_function_event_invoke_config("bad", maximum_retry_attempts=0)
    r = fast.invoke("bad", invocation_type="Event")
    assert fast.wait_for_async(10)
    assert len(attempts_of(fast, "bad", r.request_id)) == 1


def test_timeouts_and_out_of_memory_are_retried(fast):
    fast.deploy("slow", "import time\ndef handler(e, c):\n    time.sleep(5)\n", timeout=1)
    fast.deploy("hog", "def handler(e, c):\n    x = [b'x' * (8 << 20) for _ in range(100)]\n")
    for name in ("slow", "hog"):
        fast.put_function_event_invoke_config(name, maximum_retry_attempts=1)
    ids = {name: fast.invoke(name, invocation_type="Event").request_id for name in ("slow", "hog")}
    assert fast.wait_for_async(30)
    assert [t.status for t in attempts_of(fast, "slow", ids["slow"])] == ["timeout", "timeout"]
    assert [t.status for t in attempts_of(fast, "hog", ids["hog"])] == ["oom", "oom"]


def test_success_destination_gets_lambdas_record(fast):
    fast.deploy("sink", SINK)
    fast.deploy("ok", "def handler(e, c):\n    return {'doubled': e * 2}\n")
    fast.put_function_event_invoke_config("ok", on_success="sink")
    r = fast.invoke("ok", 21, invocation_type="Event")
    assert fast.wait_for_async(10)
    [delivery] = fast.invocations("sink")
    record = delivery.payload
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    assert record["requestContext"] == {
        "requestId": r.request_id, "condition": "Success", "approximateInvokeCount": 1,
        "functionArn": "arn:aws:lambda:us-east-1:000000000000:function:ok:$LATEST"}
    assert record["requestPayload"] == 21
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}
    assert record["responsePayload"] == {"doubled": 42}


def test_failure_destination_gets_lambdas_record(fast):
    fast.deploy("sink", SINK)
    fast.deploy("bad", FAIL)
    fast.put_function_event_invoke_config("bad", maximum_retry_attempts=1,
                                          on_failure="arn:aws:lambda:us-east-1:000000000000:function:sink")
    conf = fast.get_function_event_invoke_config("bad")
    assert conf["MaximumRetryAttempts"] == 1 and conf["DestinationConfig"]["OnFailure"] == {
        "Destination": "arn:aws:lambda:us-east-1:000000000000:function:sink"}
    r = fast.invoke("bad", {"order": 7}, invocation_type="Event")
    assert fast.wait_for_async(15)
    record = fast.invocations("sink")[0].payload
    assert record["requestContext"]["condition"] == "RetriesExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["requestContext"]["requestId"] == r.request_id
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST",
                                         "functionError": "Unhandled"}
    assert record["responsePayload"]["errorType"] == "ValueError"
    assert record["requestPayload"] == {"order": 7}


def test_old_events_expire(make_platform):
    now = [1_000_000.0]
    p = make_platform(wall_clock=lambda: now[0], retry_delay_factor=0.01)
    p.deploy("f", SINK)
    p.put_function_event_invoke_config("f", maximum_event_age_in_seconds=60)
    p.put_function_concurrency("f", 0)  # throttled: the event waits in the queue
    r = p.invoke("f", {"late": True}, invocation_type="Event")
    time.sleep(0.5)
    assert len(p.queued_events("f")) == 1 and p.invocations("f") == []
    now[0] += 61
    p.delete_function_concurrency("f")
    assert p.wait_for_async(10)
    assert p.invocations("f") == []  # never ran
    [letter] = p.dead_letters("f")
    assert letter.condition == "EventAgeExceeded" and letter.request_id == r.request_id
    assert "responseContext" not in letter.record


def test_throttled_event_waits_and_is_never_dropped(fast):
    fast.deploy("f", SINK)
    fast.put_function_concurrency("f", 0)
    fast.invoke("f", 1, invocation_type="Event")
    time.sleep(1.0)
    [queued] = fast.queued_events("f")
    assert queued.throttles >= 1 and queued.attempts == 0
    fast.delete_function_concurrency("f")
    assert fast.wait_for_async(15)
    assert [r.payload for r in fast.invocations("f")] == [1]


SLEEPY = "import time\ndef handler(e, c):\n    time.sleep(e)\n    return e\n"


def test_reserved_concurrency_drains_one_after_another(fast):
    """Like Lambda's pollers, which scale down to the function's concurrency: a throttle costs
    the time until a slot frees, not an exponential backoff (this took minutes)."""
    fast.deploy("slow", SLEEPY)
    fast.put_function_concurrency("slow", 1)
    started = time.monotonic()
    for _ in range(10):
        fast.invoke("slow", 0.2, invocation_type="Event")
    assert fast.wait_for_async(30)
    assert time.monotonic() - started < 10  # 2 s of work; about 2.2 s here
    runs = sorted(fast.invocations("slow", limit=100), key=lambda r: r.started_at)
    assert len(runs) == 10 and all(r.ok for r in runs)  # each ran once: no attempt used
    assert len({r.request_id for r in runs}) == 10 and fast.dead_letters("slow") == []
    for a, b in zip(runs, runs[1:]):  # never two at once
        assert b.started_at >= a.started_at + a.duration_ms / 1000 - 0.05


def test_a_throttled_function_does_not_starve_others(fast):
    fast.deploy("a", SLEEPY)
    fast.deploy("b", SINK)
    fast.put_function_concurrency("a", 1)
    for _ in range(12):  # 6 s of work, one at a time
        fast.invoke("a", 0.5, invocation_type="Event")
    time.sleep(0.3)  # a's events are claimed and throttled first
    started = time.monotonic()
    for i in range(4):
        fast.invoke("b", i, invocation_type="Event")
    assert fast.wait_for_async(10, name="b")
    assert time.monotonic() - started < 4
    assert fast.queued_events("a")  # a is still draining, one at a time
    assert sorted(r.payload for r in fast.invocations("b")) == [0, 1, 2, 3]
    assert fast.wait_for_async(30)
    assert len(fast.invocations("a", limit=100)) == 12 and fast.dead_letters() == []


def test_account_throttles_back_off_without_using_attempts(make_platform):
    p = make_platform(concurrency_limit=1, retry_delay_factor=0.02)
    p.deploy("f", SLEEPY)
    for _ in range(6):
        p.invoke("f", 0.1, invocation_type="Event")
    assert p.wait_for_async(30)
    assert p.limits.throttles["f"] > 0
    runs = p.invocations("f", limit=100)
    assert len(runs) == 6 and all(r.ok for r in runs) and p.dead_letters() == []


def test_throttle_backoff_is_scaled_capped_and_jittered():
    from nblambda.dispatcher import MAX_THROTTLE_BACKOFF_S, throttle_backoff

    assert throttle_backoff(0, 1.0, 300.0, lambda: 1.0) == 1.0
    assert throttle_backoff(3, 1.0, 300.0, lambda: 1.0) == 8.0
    assert throttle_backoff(3, 1.0, 300.0, lambda: 0.0) == 4.0  # jitter: half to all of it
    assert throttle_backoff(40, 1.0, MAX_THROTTLE_BACKOFF_S, lambda: 1.0) == 300.0
    assert throttle_backoff(40, 0.02, 0.02 * MAX_THROTTLE_BACKOFF_S, lambda: 1.0) == 6.0
    assert throttle_backoff(5, 0.0, 0.0, lambda: 0.0) > 0  # a factor of 0 never spins
    delays = {throttle_backoff(2, 1.0, 300.0) for _ in range(20)}
    assert len(delays) > 1 and all(2.0 <= d <= 4.0 for d in delays)


def test_dead_letters_can_be_redriven(fast):
    fast.deploy("flaky", FAIL)
    fast.put_function_event_invoke_config("flaky", maximum_retry_attempts=0)
    fast.invoke("flaky", {"id": 1}, invocation_type="Event")
    fast.invoke("flaky", {"id": 2}, invocation_type="Event")
    assert fast.wait_for_async(10)
    assert sorted(d.event["id"] for d in fast.dead_letters("flaky")) == [1, 2]
    fast.deploy("flaky", SINK)  # fixed
    first = fast.dead_letters("flaky")[0]
    fast.redrive("flaky", [first.seq])
    assert fast.wait_for_async(10)
    assert len(fast.dead_letters("flaky")) == 1
    fast.redrive("flaky")
    assert fast.wait_for_async(10)
    assert fast.dead_letters("flaky") == []
    assert sorted(r.payload["id"] for r in fast.invocations("flaky") if r.ok) == [1, 2]


def test_queued_events_survive_a_restart(tmp_path):
    with Platform(tmp_path / "h") as p:
        p.deploy("f", SINK)
        p.put_function_concurrency("f", 0)
        p.invoke("f", "kept", invocation_type="Event")
    with Platform(tmp_path / "h", retry_delay_factor=0.01) as p2:
        assert [json.loads(e.payload) for e in p2.queued_events("f")] == ["kept"]
        p2.delete_function_concurrency("f")
        assert p2.wait_for_async(10)
        assert p2.invocations("f")[0].payload == "kept"


def test_event_invoke_config_validation(fast):
    fast.deploy("f", SINK)
    with pytest.raises(InvalidParameterValueException, match="maximumRetryAttempts"):
        fast.put_function_event_invoke_config("f", maximum_retry_attempts=3)
    with pytest.raises(InvalidParameterValueException, match="maximumEventAgeInSeconds"):
        fast.put_function_event_invoke_config("f", maximum_event_age_in_seconds=59)
    with pytest.raises(ResourceNotFoundException):
        fast.put_function_event_invoke_config("f", on_failure="missing")


KILLED = textwrap.dedent("""
    import os, signal, sys, time
    from nblambda import Platform
    home, out = sys.argv[1], sys.argv[2]
    p = Platform(home, async_workers=2)
    p.deploy("rec", "import os, time\\n"
                    "def handler(e, c):\\n"
                    "    time.sleep(0.05)\\n"
                    "    fd = os.open(%r, os.O_WRONLY | os.O_CREAT | os.O_APPEND)\\n"
                    "    os.write(fd, (str(e) + '\\\\n').encode())\\n"
                    "    os.close(fd)\\n"
                    "    return e\\n" % out)
    for i in range(60):
        p.invoke("rec", i, invocation_type="Event")
    print("queued", flush=True)
    while True:  # die mid-stream: some events done, some running, most still queued
        try:
            if len(open(out).read().split()) >= 10:
                break
        except FileNotFoundError:
            pass
        time.sleep(0.01)
    os.kill(os.getpid(), signal.SIGKILL)
""")


def test_sigkilled_kernel_loses_no_event(tmp_path):
    home, out = tmp_path / "home", tmp_path / "seen.txt"
    proc = subprocess.run([sys.executable, "-c", KILLED, str(home), str(out)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -signal.SIGKILL and "queued" in proc.stdout, proc.stderr
    before = out.read_text().split()
    assert 10 <= len(before) < 60
    with Platform(home) as p:
        assert p.wait_for_async(60)
        seen = [int(x) for x in out.read_text().split()]
        assert set(seen) == set(range(60))  # every event ran at least once
        assert p.queued_events() == [] and p.dead_letters() == []


def test_an_event_that_succeeds_while_the_platform_closes_is_not_run_again(tmp_path):
    # A short-lived process (the CLI) closing just as its event finished must not hand the event
    # back: a server on the same home would run it a second time.
    home = tmp_path / "home"
    p = Platform(home)
    p.deploy("once", SINK)
    original = p.dispatcher.run_event

    def run_then_close(event):
        result = original(event)
        p.dispatcher.stop()  # the platform starts closing as the run ends
        return result

    p.dispatcher.run_event = run_then_close
    r = p.invoke("once", {"n": 1}, invocation_type="Event")
    deadline = time.monotonic() + 10
    while not p.dispatcher._stop and time.monotonic() < deadline:
        time.sleep(0.02)
    p.close()
    again = Platform(home)
    try:
        assert again.wait_for_async(5)
        assert [x.request_id for x in again.invocations("once")] == [r.request_id]
    finally:
        again.close()


def test_the_cli_queues_an_event_and_returns_once_it_ran(tmp_path):
    home = tmp_path / "home"
    code = tmp_path / "fn.py"
    code.write_text("def handler(event, context):\n    print('ran', event)\n    return event\n")

    def cli(*args):
        return subprocess.run([sys.executable, "-m", "nblambda.cli", "--home", str(home), *args],
                              capture_output=True, text=True, timeout=60)

    assert cli("deploy", "fn", str(code)).returncode == 0
    out = cli("invoke", "fn", "--invocation-type", "Event", "--payload", '{"n": 7}')
    assert out.returncode == 0, out.stderr
    request_id = json.loads(out.stdout)["RequestId"]
    with Platform(home) as p:
        assert p.wait_for_async(5)
        assert [r.request_id for r in p.invocations("fn")] == [request_id]
    bad = cli("invoke", "fn", "--invocation-type", "Event", "--payload", "not json")
    assert bad.returncode == 2 and "InvalidRequestContentException" in bad.stderr
