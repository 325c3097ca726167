"""The containers notebook runs headless and shows what its text says it shows."""
import re

import pytest

from conftest import require_docker
from notebook_helpers import cell_after, error_outputs, run_notebook, text_of



@pytest.fixture(scope="module")
def executed(tmp_path_factory):
    require_docker()
    return run_notebook("03-containers.ipynb", tmp_path_factory)[0]


def test_every_cell_runs_without_error(executed):
    assert error_outputs(executed) == []


def test_the_same_function_gives_the_same_result_on_both_backends(executed):
    text = text_of(cell_after(executed, "rows = {name: platform.invoke"))
    assert "same result: True" in text
    docker_row = next(line for line in text.splitlines() if line.startswith("where_docker"))
    assert docker_row.split()[1:] == ["6", docker_row.split()[2], "993", "/var/task"]


def test_out_of_memory_is_reported_as_lambda_does(executed):
    assert '"cgroup_limit_mb": 128' in text_of(cell_after(executed, '%%lambda hog\n{"mb": 40}'))
    text = text_of(cell_after(executed, "oom = _"))
    assert text.startswith("oom | Runtime.OutOfMemory | RequestId: ")
    assert "Max Memory Used: 128 MB\tStatus: error\tError Type: Runtime.OutOfMemory" in text
    assert "success cold: True" in text_of(cell_after(executed, 'r = platform.invoke("hog"'))


def test_network_none_leaves_only_loopback(executed):
    text = text_of(cell_after(executed, 'print("online: "'))
    assert "offline: ['lo']" in text
    assert re.search(r"online: +\[.*'lo'.*\]", text)


def test_one_layer_serves_the_dependency_on_both_backends(executed):
    text = text_of(cell_after(executed, "STATS = '''"))
    assert "'imported_from': '/opt/python/tinystats/__init__.py'" in text
    assert text.count("'mean': 3.875") == 2
    assert re.search(r"layers installed: \[\('py3\.\d+-[0-9a-f]{24}', \['tinystats==1.0'\]\)\]",
                     text)
    broken = text_of(cell_after(executed, "from nblambda.errors import LambdaError"))
    assert "No matching distribution found for tinystats==9.9" in broken


def test_cold_and_warm_timings_are_measured_and_plotted(executed):
    text = text_of(cell_after(executed, "import statistics, time, uuid"))
    medians = {m[1].strip(): float(m[2]) for m in
               re.finditer(r"^(.+?) +median +([\d.]+) ms", text, re.M)}
    assert set(medians) == {"process cold", "process warm", "docker cold (stem cell)",
                            "docker warm", "docker cold (docker run)"}
    assert medians["docker warm"] < medians["docker cold (stem cell)"] \
        < medians["docker cold (docker run)"]
    plot = cell_after(executed, "order = [")
    assert any("image/png" in o.get("data", {}) for o in plot.outputs)


def test_the_kernel_leaves_no_container_behind(executed):
    assert "containers of this kernel left: 0" in text_of(cell_after(executed, "from nblambda."
                                                                                "sandbox.docker_engine"))
    pid = re.search(r"kernel pid: (\d+)", text_of(cell_after(executed, "%load_ext nblambda")))[1]
    from nblambda.sandbox.docker_engine import OWNER_LABEL, connect

    client = connect()
    owners = [c["Labels"].get(OWNER_LABEL, "") for c in
              client.api.containers(all=True, filters={"label": "nblambda"})]
    client.close()
    assert not [o for o in owners if o.split(":")[1:2] == [pid]]
