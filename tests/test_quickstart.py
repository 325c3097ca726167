"""The quickstart notebook runs headless, on real data, and shows what the tutorial says it shows."""

import pytest

from nblambda import Platform
from nblambda.notebook_runner import summary
from notebook_helpers import cell_after, error_outputs, run_notebook, text_of



@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    return run_notebook("01-quickstart.ipynb", tmp_path_factory)


def test_every_cell_runs_without_error(executed):
    nb, _ = executed
    assert error_outputs(nb) == []


def test_cold_then_warm_invocation_with_widgets(executed):
    nb, _ = executed
    invokes = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("%%lambda hello")]
    first, second = text_of(invokes[0]), text_of(invokes[1])
    assert "[success, cold]" in first and "Hello, Jupyter!" in first and "init " in first
    assert "[success, warm]" in second and "Hello, again!" in second
    bundle = invokes[0].outputs[-1]["data"]
    assert "application/vnd.jupyter.widget-view+json" in bundle and "text/html" in bundle


def test_error_and_timeout_are_shown_in_lambda_shape(executed):
    nb, _ = executed
    assert "ZeroDivisionError: division by zero" in text_of(cell_after(nb, "%%lambda divide"))
    timeout = text_of(cell_after(nb, "%%lambda sleepy"))
    assert "Sandbox.Timedout" in timeout and "Task timed out after 1.00 seconds" in timeout


def test_logs_cell_shows_start_end_report(executed):
    nb, _ = executed
    logs = text_of(cell_after(nb, "%lambda logs hello"))
    assert logs.count("START RequestId:") == 2 and logs.count("REPORT RequestId:") == 2


def test_real_data_job_summarises_four_years_of_seattle_weather(executed):
    nb, home = executed
    job = text_of(cell_after(nb, "import pandas as pd"))
    assert "48 invocations, 0 failed, 1 cold start(s)" in job
    findings = text_of(cell_after(nb, 'summary["year"]'))
    assert "warmest month: 2015-07" in findings
    assert "wettest month: 2015-12" in findings
    for year in ("2012", "2013", "2014", "2015"):
        assert year in findings
    with Platform(home) as p:
        runs = p.invocations("monthly_summary", limit=100)
        assert len(runs) == 48 and all(r.ok for r in runs)
        assert sum(r.payload["days"] for r in runs) == 1461


def test_summary_reports_what_ran(executed):
    nb, home = executed
    text = summary(nb, str(home), 1.0)
    assert "4 functions deployed, 53 invocations" in text
    assert "monthly_summary" in text and "48 success" in text
