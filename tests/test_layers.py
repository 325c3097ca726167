"""Dependency layers: installed once per pinned set and Python, shared, on sys.path -- offline.

The packages come from a wheel the tests write themselves (``make_wheel``) and install with
``--find-links DIR --no-index``: no network, no setuptools.
"""
import os
import sys

import pytest
from IPython.utils.capture import capture_output

from conftest import src
from nblambda.errors import InvalidParameterValueException, ResourceNotFoundException
from nblambda.layers import (DependencyLayers, LayerInstallError, Requirements, make_wheel,
                             read_requirements_file)

PY = sys.version_info[:2]
USES_TINY = src("""
    import nbltiny
    def handler(event, context):
        return {"greeting": nbltiny.greet(event), "file": nbltiny.__file__}
""")


@pytest.fixture(scope="module")
def wheels(tmp_path_factory):
    folder = tmp_path_factory.mktemp("wheels")
    make_wheel(folder, "nbltiny", "0.1", {
        "nbltiny/__init__.py": "def greet(name):\n    return 'hello, %s' % name\n"})
    make_wheel(folder, "nbltiny", "0.2", {
        "nbltiny/__init__.py": "def greet(name):\n    return 'hi, %s' % name\n"})
    return folder


def offline(wheels, *pins):
    return [*pins, "--find-links", str(wheels), "--no-index"]


# -- keys and requirement lists --------------------------------------------------------------
def test_key_is_the_sorted_pinned_set_and_the_python_version():
    a = Requirements.parse(["b==2", "a==1"])
    assert a.key((3, 11)) == Requirements.parse("a==1 b==2").key((3, 11))
    assert a.key((3, 11)) == Requirements.parse(["a==1", "b==2", "--no-index"]).key((3, 11))
    assert a.key((3, 11)) != Requirements.parse("a==1 b==3").key((3, 11))
    assert a.key((3, 11)) != a.key((3, 12))
    assert a.key((3, 11)).startswith("py3.11-")


def test_pip_source_options_go_with_the_lines_and_others_are_refused():
    reqs = Requirements.parse(["x==1", "--find-links", "/w", "--index-url=https://i/simple",
                               "--no-index"])
    assert reqs.pins == ("x==1",)
    assert reqs.options == ("--find-links", "/w", "--index-url", "https://i/simple", "--no-index")
    with pytest.raises(InvalidParameterValueException, match="Unsupported option '--target'"):
        Requirements.parse("x==1 --target /tmp")
    with pytest.raises(InvalidParameterValueException, match="needs a value"):
        Requirements.parse("x==1 --find-links")


def test_requirements_file_drops_comments_and_anchors_find_links(tmp_path):
    (tmp_path / "requirements.txt").write_text(
        "# pinned for the job\n--find-links ./wheels\n--no-index\n\nnbltiny==0.1  # greeting\n")
    assert read_requirements_file(tmp_path / "requirements.txt") == [
        "--find-links", str((tmp_path / "wheels").resolve()), "--no-index", "nbltiny==0.1"]


# -- installing ---------------------------------------------------------------------------------
@pytest.mark.all_backends
def test_deploy_installs_the_layer_and_the_function_imports_it(platform, backend, wheels):
    platform.deploy("tiny", USES_TINY, requirements=offline(wheels, "nbltiny==0.1"))
    r = platform.invoke("tiny", "layers")
    assert r.error is None, r.error
    assert r.payload["greeting"] == "hello, layers"
    layer = platform.layers.path(["nbltiny==0.1"], platform.backend(backend).python_version())
    if backend == "docker":  # Lambda's layer path, as mounted in the container
        assert r.payload["file"] == "/opt/python/nbltiny/__init__.py"
    else:
        assert r.payload["file"] == str(layer / "nbltiny" / "__init__.py")
    assert (layer / "nbltiny" / "__init__.py").is_file()


def test_functions_asking_the_same_set_share_one_install(platform, wheels):
    platform.deploy("one", USES_TINY, requirements=offline(wheels, "nbltiny==0.1"))
    layer = platform.layers.path(["nbltiny==0.1"], PY)
    marker = layer.parent.stat().st_ino
    platform.deploy("two", USES_TINY, requirements=" ".join(offline(wheels, "nbltiny==0.1")))
    assert layer.parent.stat().st_ino == marker  # not reinstalled
    assert [entry["requirements"] for entry in platform.layers.list()] == [["nbltiny==0.1"]]
    assert platform.invoke("one", 1).payload["greeting"] == platform.invoke("two", 1).payload[
        "greeting"] == "hello, 1"


def test_another_pinned_set_gets_its_own_layer(platform, wheels):
    platform.deploy("old", USES_TINY, requirements=offline(wheels, "nbltiny==0.1"))
    platform.deploy("new", USES_TINY, requirements=offline(wheels, "nbltiny==0.2"))
    assert platform.invoke("old", "a").payload["greeting"] == "hello, a"
    assert platform.invoke("new", "a").payload["greeting"] == "hi, a"
    assert len(platform.layers.list()) == 2


def test_install_failure_is_a_deploy_error_with_pips_message(platform, wheels):
    with pytest.raises(LayerInstallError) as info:
        platform.deploy("broken", USES_TINY, requirements=offline(wheels, "nbl-missing==9.9"))
    message = info.value.message
    assert message.startswith("Could not install requirements nbl-missing==9.9 for Python ")
    assert "No matching distribution found for nbl-missing==9.9" in message
    assert info.value.code == "InvalidParameterValueException"
    with pytest.raises(ResourceNotFoundException):
        platform.get_function("broken")
    assert platform.layers.list() == []  # no half-installed layer left


def test_a_different_target_python_takes_binary_wheels_for_it(tmp_path, wheels):
    layers = DependencyLayers(tmp_path / "layers")
    other = (3, 10) if PY != (3, 10) else (3, 12)
    here = layers.ensure(offline(wheels, "nbltiny==0.1"), PY)
    there = layers.ensure(offline(wheels, "nbltiny==0.1"), other)
    assert here != there and there.parent.name.startswith("py%d.%d-" % other)
    assert (there / "nbltiny" / "__init__.py").is_file()


def test_concurrent_deploys_of_one_set_install_it_once(tmp_path, wheels):
    import threading

    layers = DependencyLayers(tmp_path / "layers")
    paths = []
    threads = [threading.Thread(target=lambda: paths.append(
        layers.ensure(offline(wheels, "nbltiny==0.2"), PY))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(paths)) == 1 and len(layers.list()) == 1
    assert not [p for p in os.listdir(tmp_path / "layers") if p.startswith(".py")
                and not p.endswith(".lock")]  # no staging folder left


# -- the magic's options -------------------------------------------------------------------------


def test_magic_takes_requirements_inline_and_from_a_file(shell, tmp_path, wheels):
    from nblambda.jupyter import get_platform

    with capture_output():
        shell.run_cell_magic("lambda_function",
                             f'inline --requirements "nbltiny==0.1 --find-links {wheels} '
                             '--no-index"', USES_TINY)
    (tmp_path / "reqs.txt").write_text(f"--find-links {wheels}\n--no-index\nnbltiny==0.2\n")
    with capture_output():
        shell.run_cell_magic("lambda_function",
                             f"fromfile --requirements-file {tmp_path / 'reqs.txt'}", USES_TINY)
    p = get_platform()
    assert p.get_function("inline").requirements == offline(wheels, "nbltiny==0.1")
    assert p.invoke("inline", "x").payload["greeting"] == "hello, x"
    assert p.invoke("fromfile", "x").payload["greeting"] == "hi, x"
