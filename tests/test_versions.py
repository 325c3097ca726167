"""Versions and aliases: $LATEST is mutable, versions are frozen, aliases point at versions."""
import random

import pytest

from nblambda import (InvalidParameterValueException, ResourceConflictException,
                      ResourceNotFoundException)

V = "def handler(event, context):\n    return ['{tag}', context.function_version, context.invoked_function_arn]\n"
ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"


def test_publish_freezes_code_and_configuration(platform):
    platform.deploy("f", V.format(tag="one"), memory=256)
    v1 = platform.publish_version("f")
    assert v1.version == "1" and v1.memory == 256
    platform.deploy("f", V.format(tag="two"), memory=512)
    assert platform.invoke("f:1").payload == ["one", "1", ARN + ":1"]
    assert platform.invoke("f").payload == ["two", "$LATEST", ARN]
    assert platform.invoke("f", qualifier="$LATEST").payload[0] == "two"
    r = platform.invoke("f:1")
    assert r.version == "1" and r.memory_size_mb == 256
    assert f"START RequestId: {r.request_id} Version: 1\n" in r.logs


def test_publishing_unchanged_code_returns_the_existing_version(platform):
    platform.deploy("f", V.format(tag="one"))
    assert platform.publish_version("f").version == "1"
    assert platform.publish_version("f").version == "1"
    platform.deploy("f", V.format(tag="two"))
    assert platform.publish_version("f").version == "2"
    assert [v.version for v in platform.list_versions("f")] == ["$LATEST", "1", "2"]


def test_deploy_with_publish(platform):
    v = platform.deploy("f", V.format(tag="x"), publish=True)
    assert v.version == "1"


def test_alias_points_at_a_version_and_follows_updates(platform):
    platform.deploy("f", V.format(tag="one"), publish=True)
    platform.deploy("f", V.format(tag="two"), publish=True)
    alias = platform.create_alias("f", "prod", "1", description="stable")
    assert alias.arn == ARN + ":prod"
    r = platform.invoke("f:prod")
    assert r.payload == ["one", "1", ARN + ":prod"] and r.version == "1"
    platform.update_alias("f", "prod", version="2")
    assert platform.invoke(ARN + ":prod").payload[0] == "two"
    assert [a.name for a in platform.list_aliases("f")] == ["prod"]
    assert platform.get_alias("f", "prod").description == "stable"
    platform.delete_alias("f", "prod")
    with pytest.raises(ResourceNotFoundException):
        platform.invoke("f:prod")


def test_weighted_alias_routes_a_share_to_the_second_version(platform):
    platform.registry.rng = random.Random(7)
    platform.deploy("f", V.format(tag="one"), publish=True)
    platform.deploy("f", V.format(tag="two"), publish=True)
    platform.create_alias("f", "canary", "1", routing={"2": 0.3})
    versions = [platform.invoke("f:canary").version for _ in range(200)]
    share = versions.count("2") / len(versions)
    assert 0.2 < share < 0.4 and set(versions) == {"1", "2"}


def test_alias_errors(platform):
    platform.deploy("f", V.format(tag="one"), publish=True)
    with pytest.raises(ResourceNotFoundException):
        platform.create_alias("f", "prod", "9")
    with pytest.raises(InvalidParameterValueException):
        platform.create_alias("f", "123", "1")
    platform.create_alias("f", "prod", "1")
    with pytest.raises(ResourceConflictException):
        platform.create_alias("f", "prod", "1")
    with pytest.raises(ResourceConflictException, match="prod"):
        platform.delete_function("f", qualifier="1")


def test_versions_survive_a_restart(tmp_path):
    from nblambda import Platform

    with Platform(tmp_path / "h") as p:
        p.deploy("f", V.format(tag="one"), publish=True)
        p.create_alias("f", "live", "1")
        p.deploy("f", V.format(tag="two"))
    with Platform(tmp_path / "h") as p2:
        assert p2.invoke("f:live").payload[0] == "one"
        assert p2.invoke("f").payload[0] == "two"


def test_redeploying_latest_keeps_published_versions_warm(platform):
    platform.deploy("f", "import os\ndef handler(e, c):\n    return os.getpid()\n", publish=True)
    pid_v1 = platform.invoke("f:1").payload
    platform.deploy("f", "import os\ndef handler(e, c):\n    return -os.getpid()\n")
    r = platform.invoke("f:1")
    assert r.payload == pid_v1 and not r.cold
