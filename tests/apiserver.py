"""Shared fixtures for the API tests: a real server on a free loopback port, real clients."""
import io
import json
import os
import subprocess
import sys
import textwrap
import urllib.error
import urllib.request
import zipfile
from pathlib import Path

import boto3
import pytest
from botocore import UNSIGNED
from botocore.config import Config

from nblambda import Platform
from nblambda.api import Credentials, Server

ROLE = "arn:aws:iam::000000000000:role/test"
AWS = str(Path(sys.executable).parent / "aws")


def src(code: str) -> str:
    return textwrap.dedent(code).lstrip("\n")


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


def client(endpoint: str, key: str = "testing", secret: str = "testing-secret", *,
           signed: bool = True, validate: bool = True):
    """boto3's lambda client, retries off (so throttling errors arrive at once)."""
    config = Config(retries={"total_max_attempts": 1}, read_timeout=30,
                    parameter_validation=validate,
                    **({} if signed else {"signature_version": UNSIGNED}))
    return boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id=key, aws_secret_access_key=secret, config=config)


@pytest.fixture(scope="module")
def platform(tmp_path_factory):
    p = Platform(tmp_path_factory.mktemp("api-home"), keep_alive=60)
    yield p
    p.close()


@pytest.fixture(scope="module")
def server(platform):
    s = Server(platform, port=0).start()
    yield s
    s.stop()


@pytest.fixture(scope="module")
def lam(server):
    return client(server.endpoint)


def http(method: str, url: str, body: bytes | None = None, headers: dict | None = None):
    """(status, headers, body) with urllib, errors included."""
    request = urllib.request.Request(url, data=body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers, exc.read()


def aws_cli(endpoint: str, tmp_path: Path, *args: str, key="testing", secret="testing-secret"):
    """The AWS CLI (awscli package) with its configuration kept inside ``tmp_path``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(HOME=str(tmp_path), AWS_CONFIG_FILE=str(tmp_path / "aws-config"),
               AWS_SHARED_CREDENTIALS_FILE=str(tmp_path / "aws-credentials"),
               AWS_ACCESS_KEY_ID=key, AWS_SECRET_ACCESS_KEY=secret,
               AWS_DEFAULT_REGION="us-east-1", AWS_MAX_ATTEMPTS="1", AWS_PAGER="")
    result = subprocess.run([AWS, "lambda", *args, "--endpoint-url", endpoint, "--output", "json"],
                            capture_output=True, text=True, env=env, timeout=60, cwd=tmp_path)
    return result


def as_json(result) -> dict:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout) if result.stdout.strip() else {}


__all__ = ["Credentials", "Server", "Platform", "ROLE", "client", "zip_of", "src", "http",
           "aws_cli", "as_json", "platform", "server", "lam"]
