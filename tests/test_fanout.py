"""Platform.map: order, per-item errors, throttles, cancellation; and the notebook commands."""
import _thread
import threading
import time

import pytest
from IPython.utils.capture import capture_output

from nblambda.fanout import MapResults

SQUARE = src_square = ("import time\ndef handler(e, c):\n    time.sleep(e.get('sleep', 0))\n"
                       "    if e.get('fail'):\n        raise ValueError(e['n'])\n    return e['n'] ** 2\n")


def test_results_come_back_in_input_order_with_errors_kept(platform):
    platform.deploy("sq", SQUARE)
    events = [{"n": i, "sleep": 0.01 * (7 - i % 7), "fail": i % 5 == 3} for i in range(40)]
    results = platform.map("sq", events, concurrency=6)
    assert isinstance(results, MapResults) and len(results) == 40
    for i, r in enumerate(results):
        if i % 5 == 3:
            assert r.error["errorType"] == "ValueError" and r.error["errorMessage"] == str(i)
        else:
            assert r.payload == i * i
    assert results.progress.done == 40 and results.progress.failed == 8
    assert len(results.failed) == 8 and not results.interrupted
    assert len({r.request_id for r in results}) == 40


def test_map_runs_in_parallel(platform):
    platform.deploy("sq", SQUARE)
    started = time.monotonic()
    platform.map("sq", [{"n": i, "sleep": 0.3} for i in range(8)], concurrency=8)
    assert time.monotonic() - started < 1.5


def test_throttled_items_are_retried_not_lost(platform):
    platform.deploy("sq", SQUARE)
    platform.put_function_concurrency("sq", 2)
    results = platform.map("sq", [{"n": i, "sleep": 0.05} for i in range(12)], concurrency=6)
    assert [r.payload for r in results] == [i * i for i in range(12)]


def test_progress_callback_and_terminal_line(platform, capsys):
    platform.deploy("sq", SQUARE)
    seen = []
    platform.map("sq", [{"n": i} for i in range(10)], concurrency=2, progress=seen.append)
    assert seen[-1].done == 10 and seen[-1].finished is not None and seen[-1].eta == 0.0
    platform.map("sq", [{"n": i} for i in range(5)], concurrency=2, progress=True)
    err = capsys.readouterr().err
    assert "\r" in err and "5/5 done, 0 failed, 0 running" in err


def test_interrupt_cancels_what_has_not_started(platform):
    platform.deploy("sq", SQUARE)
    events = [{"n": i, "sleep": 0.2} for i in range(40)]
    threading.Timer(0.5, _thread.interrupt_main).start()  # what Ctrl-C / a kernel interrupt does
    started = time.monotonic()
    results = platform.map("sq", events, concurrency=2)
    assert time.monotonic() - started < 2.0
    assert results.interrupted
    done = [r for r in results if r is not None]
    assert 2 <= len(done) < 40 and all(r.ok for r in done)
    assert results.progress.cancelled == 40 - len(done)
    assert results[0] is not None and results[-1] is None
    assert "interrupted" in results.summary()


def test_background_map_can_be_waited_for_and_cancelled(platform):
    platform.deploy("sq", SQUARE)
    run = platform.map("sq", [{"n": i, "sleep": 0.1} for i in range(30)], concurrency=2,
                       background=True)
    time.sleep(0.35)
    run.cancel()
    results = run.wait()
    assert 2 <= results.progress.done < 30 and results.progress.cancelled > 0




def test_map_and_dlq_and_async_magics(shell):
    shell.run_cell_magic("lambda_function", "sq --reserved-concurrency 4", SQUARE)
    shell.user_ns["items"] = [{"n": i} for i in range(6)]
    with capture_output() as out:
        results = shell.run_line_magic("lambda", "map sq --concurrency 3 items + [{'n': 9}]")
    assert [r.payload for r in results] == [0, 1, 4, 9, 16, 25, 81]
    assert "7/7 done" in out.outputs[-1].data["text/plain"]
    from nblambda.jupyter import get_platform

    p = get_platform()
    assert p.get_function_concurrency("sq") == 4
    p.put_function_event_invoke_config("sq", maximum_retry_attempts=0)
    queued = shell.run_cell_magic("lambda", "sq --async", '{"n": 1, "fail": true}')
    assert queued.status_code == 202 and "queued" in repr(queued)
    again = shell.run_line_magic("lambda", 'invoke --async sq {"n": 2, "fail": true}')
    assert again.status_code == 202
    assert p.wait_for_async(20)
    table = shell.run_line_magic("lambda", "dlq sq")
    assert len(table) == 2 and "RetriesExhausted" in repr(table)
    with capture_output() as out:
        shell.run_line_magic("lambda", "dlq sq --redrive")
    assert "Queued 2 event(s)" in out.stdout


def test_provisioned_option_on_deploy(shell):
    shell.run_cell_magic("lambda_function", "warm --provisioned 1", SQUARE)
    from nblambda.jupyter import get_platform

    r = get_platform().invoke("warm", {"n": 3})
    assert r.payload == 9 and not r.cold


def test_function_card_shows_live_figures(shell):
    from nblambda.jupyter import get_platform, live

    card = shell.run_cell_magic("lambda_function", "sq --reserved-concurrency 3", SQUARE)
    p = get_platform()
    p.put_function_concurrency("sq", 0)
    p.invoke("sq", {"n": 1}, invocation_type="Event")
    time.sleep(0.3)
    assert live.refresh(card)
    assert "queued async events: <b>1</b>" in card.stats.value
    assert "of 0 reserved" in card.stats.value and "throttles: <b>" in card.stats.value


@pytest.mark.parametrize("line", [
    "sq [{'n': i} for i in range(5)] --concurrency 3",
    "-c 3 sq [{'n': i} for i in range(5)]",
    "sq --concurrency=3 [{'n': i} for i in range(5)]",
])
def test_map_options_may_stand_anywhere(shell, line):
    shell.run_cell_magic("lambda_function", "sq", SQUARE)
    with capture_output():
        results = shell.run_line_magic("lambda", "map " + line)
    assert [r.payload for r in results] == [0, 1, 4, 9, 16]


def test_background_map_from_the_magic(shell):
    shell.run_cell_magic("lambda_function", "sq", SQUARE)
    with capture_output():
        run = shell.run_line_magic("lambda", "map --background sq [{'n': i} for i in range(4)]")
    results = run.wait()
    assert [r.payload for r in results] == [0, 1, 4, 9]
    assert repr(run).startswith("<MapRun sq (done): 4/4 done")


def test_dlq_redrive_of_chosen_events(shell):
    from nblambda.jupyter import get_platform

    shell.run_cell_magic("lambda_function", "sq", SQUARE)
    p = get_platform()
    p.put_function_event_invoke_config("sq", maximum_retry_attempts=0)
    for n in (1, 2):
        p.invoke("sq", {"n": n, "fail": True}, invocation_type="Event")
    assert p.wait_for_async(20)
    first = p.dead_letters("sq")[0]
    with capture_output() as out:
        shell.run_line_magic("lambda", f"dlq --redrive sq --seq {first.seq}")
    assert "Queued 1 event(s)" in out.stdout
    assert p.wait_for_async(20)
    assert len(p.dead_letters("sq")) == 2  # it failed again: back in the DLQ, with a new seq
