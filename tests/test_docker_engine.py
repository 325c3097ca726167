"""The engine around the docker backend: lazy connection, clear refusals, images, and hygiene
(labels, nothing left after close, a dead kernel's containers swept at the next start)."""
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from conftest import require_docker
from nblambda.images import build as image_build
from nblambda.sandbox.docker_engine import (OWNER_LABEL, DockerUnavailable, connect,
                                            default_image, owner_id)

REPO = Path(__file__).resolve().parent.parent


def run_python(code: str, **env) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True,
                          text=True, timeout=180, cwd=REPO, env=dict(os.environ, **env))


# -- connection ------------------------------------------------------------------------------------
def test_importing_and_the_process_backend_never_touch_docker(tmp_path):
    out = run_python(f"""
        import sys
        from nblambda import Platform
        with Platform({str(tmp_path / "home")!r}) as p:
            p.deploy("f", "def handler(e, c):\\n    return 1\\n")
            assert p.invoke("f").payload == 1
        print("docker" in sys.modules)
    """, DOCKER_HOST="unix:///nonexistent/docker.sock")
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"


def test_no_engine_is_a_clear_error_and_the_process_backend_keeps_working(make_platform,
                                                                        monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent/docker.sock")
    p = make_platform(backend="process")
    with pytest.raises(DockerUnavailable) as info:
        p.deploy("boxed", "def handler(e, c):\n    return 1\n", backend="docker")
    assert info.value.message.startswith(
        "Docker engine not reachable at unix:///nonexistent/docker.sock — start it with `dockerd`")
    assert "--backend process" in info.value.message
    p.deploy("local", "def handler(e, c):\n    return 'still here'\n")
    assert p.invoke("local").payload == "still here"


def test_a_remote_engine_is_refused_with_the_reason(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "tcp://127.0.0.1:2375")
    with pytest.raises(DockerUnavailable, match="not a local engine: the docker backend "
                                                "bind-mounts this machine's folders"):
        connect()


# -- images ------------------------------------------------------------------------------------------
def test_the_default_image_matches_the_kernels_python(make_platform):
    require_docker()
    p = make_platform(backend="docker")
    p.deploy("v", "import sys\ndef handler(e, c):\n    return list(sys.version_info[:2])\n")
    backend = p.backend("docker")
    version = "%d.%d" % sys.version_info[:2]
    assert backend.default_image in (f"python:{version}-slim", f"nblambda/python:{version}")
    assert p.invoke("v").payload == list(sys.version_info[:2])


def test_no_image_for_a_python_says_how_to_build_one():
    require_docker()
    client = connect()
    with pytest.raises(DockerUnavailable, match="Build one offline with `nblambda image build`"):
        default_image(client, (3, 99))
    client.close()


def test_a_missing_function_image_is_a_clear_error(make_platform):
    require_docker()
    p = make_platform(backend="docker")
    p.deploy("custom", "def handler(e, c):\n    return 1\n", image="nblambda/no-such-image:0")
    with pytest.raises(DockerUnavailable, match="'nblambda/no-such-image:0' is not on this machine"):
        p.invoke("custom")


def test_image_build_command_picks_the_debian_release_of_the_python():
    cmd, env = image_build.build_command(python_version=(3, 11))
    assert cmd[-2].endswith("build_base_image.sh") and cmd[-1] == "nblambda/python:3.11"
    assert env["NBLAMBDA_DEBIAN_SUITE"] == "bookworm"
    with pytest.raises(ValueError, match="No Debian release ships Python 3.12"):
        image_build.build_command(python_version=(3, 12))
    from nblambda.cli import main

    out = subprocess.run([sys.executable, "-m", "nblambda.cli", "image", "build", "--dry-run",
                          "--tag", "x/y:1"], capture_output=True, text=True, cwd=REPO)
    assert out.returncode == 0 and out.stdout.strip().endswith("build_base_image.sh x/y:1")
    assert callable(main)


# -- hygiene ----------------------------------------------------------------------------------------
def test_close_leaves_no_container_and_no_folder(make_platform):
    require_docker()
    p = make_platform(backend="docker", prewarm=2)
    p.deploy("a", "def handler(e, c):\n    return 1\n")
    p.deploy("b", "def handler(e, c):\n    return 1\n", network="none")
    p.invoke("a"), p.invoke("b")
    backend = p.backend("docker")
    api, token, folder = backend.client.api, backend.token, backend.folder
    assert api.containers(all=True, filters={"label": f"nblambda.backend={token}"})
    p.close()
    client = connect()
    assert client.api.containers(all=True, filters={"label": f"nblambda.backend={token}"}) == []
    assert not folder.exists()
    client.close()


def test_a_dead_kernels_containers_are_removed_at_the_next_start(tmp_path, make_platform):
    require_docker()
    out = run_python(f"""
        import os
        from nblambda import Platform
        p = Platform({str(tmp_path / "dead")!r}, backend="docker", prewarm=1)
        p.deploy("f", "def handler(e, c):\\n    return 1\\n")
        assert p.invoke("f").payload == 1
        b = p.backend("docker")
        print(b.owner, b.folder, flush=True)
        os.kill(os.getpid(), 9)  # a kernel killed by a restart: no close(), no atexit
    """)
    owner, folder = out.stdout.split()
    client = connect()
    by_owner = {"label": f"{OWNER_LABEL}={owner}"}
    assert client.api.containers(all=True, filters=by_owner), out.stderr
    p = make_platform(backend="docker")
    p.deploy("g", "def handler(e, c):\n    return 2\n")  # the next start of the backend
    assert client.api.containers(all=True, filters=by_owner) == []
    assert not Path(folder).exists()
    assert p.invoke("g").payload == 2
    client.close()


def test_every_container_is_labelled_and_none_of_this_run_is_left(make_platform):
    require_docker()
    p = make_platform(backend="docker")
    p.deploy("f", "def handler(e, c):\n    return 1\n")
    p.invoke("f")
    backend = p.backend("docker")
    mine = backend.client.api.containers(all=True, filters={"label": f"{OWNER_LABEL}={owner_id()}"})
    assert mine and all(c["Labels"]["nblambda"] == "1" for c in mine)
    p.close()
    client = connect()
    # `docker ps -a --filter label=nblambda`, narrowed to this test process
    assert client.api.containers(all=True, filters={"label": f"{OWNER_LABEL}={owner_id()}"}) == []
    client.close()
