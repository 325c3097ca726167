"""Versions, aliases, concurrency and asynchronous-invocation configuration through boto3."""
import json

import pytest

from apiserver import lam, platform, server  # noqa: F401 (fixtures)


def deploy(platform, name, value):
    platform.deploy(name, f"def handler(event, context):\n    return {value!r}\n")


def test_publish_version_and_list_versions(lam, platform):
    deploy(platform, "pub", "v1")
    r = lam.publish_version(FunctionName="pub", Description="first")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert r["Version"] == "1" and r["Description"] == "first"
    assert r["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:pub:1"
    # nothing changed: AWS hands back the existing version
    assert lam.publish_version(FunctionName="pub")["Version"] == "1"
    deploy(platform, "pub", "v2")
    assert lam.publish_version(FunctionName="pub")["Version"] == "2"
    versions = lam.list_versions_by_function(FunctionName="pub")["Versions"]
    assert [v["Version"] for v in versions] == ["$LATEST", "1", "2"]
    assert versions[0]["FunctionArn"].endswith(":pub:$LATEST")
    assert json.loads(lam.invoke(FunctionName="pub", Qualifier="1")["Payload"].read()) == "v1"


def test_list_versions_paginates(lam, platform):
    for i in range(4):
        deploy(platform, "many", i)
        platform.publish_version("many")
    pages = list(lam.get_paginator("list_versions_by_function").paginate(
        FunctionName="many", PaginationConfig={"PageSize": 2}))
    assert [len(p["Versions"]) for p in pages] == [2, 2, 1]
    assert [v["Version"] for p in pages for v in p["Versions"]] == ["$LATEST", "1", "2", "3", "4"]


def test_publish_version_checks_code_sha256(lam, platform):
    deploy(platform, "sha", 1)
    sha = lam.get_function_configuration(FunctionName="sha")["CodeSha256"]
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.publish_version(FunctionName="sha", CodeSha256="A" * 44)
    assert lam.publish_version(FunctionName="sha", CodeSha256=sha)["Version"] == "1"


def test_alias_lifecycle(lam, platform):
    deploy(platform, "aliased", "one")
    platform.publish_version("aliased")
    deploy(platform, "aliased", "two")
    platform.publish_version("aliased")
    r = lam.create_alias(FunctionName="aliased", Name="live", FunctionVersion="1",
                         Description="production")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert r["AliasArn"] == "arn:aws:lambda:us-east-1:000000000000:function:aliased:live"
    assert (r["Name"], r["FunctionVersion"], r["Description"]) == ("live", "1", "production")
    got = lam.get_alias(FunctionName="aliased", Name="live")
    assert got["RevisionId"] == r["RevisionId"]
    assert json.loads(lam.invoke(FunctionName="aliased:live")["Payload"].read()) == "one"
    updated = lam.update_alias(FunctionName="aliased", Name="live", FunctionVersion="2",
                               RevisionId=got["RevisionId"])
    assert updated["FunctionVersion"] == "2" and updated["Description"] == "production"
    assert json.loads(lam.invoke(FunctionName="aliased", Qualifier="live")["Payload"].read()) \
        == "two"
    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.update_alias(FunctionName="aliased", Name="live", FunctionVersion="1",
                         RevisionId=got["RevisionId"])
    weighted = lam.update_alias(FunctionName="aliased", Name="live", FunctionVersion="2",
                                RoutingConfig={"AdditionalVersionWeights": {"1": 0.25}})
    assert weighted["RoutingConfig"] == {"AdditionalVersionWeights": {"1": 0.25}}
    lam.create_alias(FunctionName="aliased", Name="beta", FunctionVersion="1")
    assert [a["Name"] for a in lam.list_aliases(FunctionName="aliased")["Aliases"]] == \
        ["beta", "live"]
    assert [a["Name"] for a in lam.list_aliases(FunctionName="aliased",
                                                FunctionVersion="1")["Aliases"]] == ["beta"]
    page = lam.list_aliases(FunctionName="aliased", MaxItems=1)
    assert len(page["Aliases"]) == 1 and page["NextMarker"]
    r = lam.delete_alias(FunctionName="aliased", Name="beta")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_alias(FunctionName="aliased", Name="beta")


def test_alias_errors(lam, platform):
    deploy(platform, "alias-errors", 1)
    platform.publish_version("alias-errors")
    lam.create_alias(FunctionName="alias-errors", Name="a", FunctionVersion="1")
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.create_alias(FunctionName="alias-errors", Name="a", FunctionVersion="1")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.create_alias(FunctionName="alias-errors", Name="b", FunctionVersion="9")
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.create_alias(FunctionName="alias-errors", Name="123", FunctionVersion="1")
    # a version an alias points at cannot go
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.delete_function(FunctionName="alias-errors", Qualifier="1")


def test_function_concurrency(lam, platform):
    deploy(platform, "reserved", 1)
    assert lam.get_function_concurrency(FunctionName="reserved").get(
        "ReservedConcurrentExecutions") is None
    r = lam.put_function_concurrency(FunctionName="reserved", ReservedConcurrentExecutions=7)
    assert r["ReservedConcurrentExecutions"] == 7
    assert lam.get_function_concurrency(FunctionName="reserved")[
        "ReservedConcurrentExecutions"] == 7
    assert platform.get_function_concurrency("reserved") == 7
    r = lam.delete_function_concurrency(FunctionName="reserved")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert platform.get_function_concurrency("reserved") is None
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_concurrency(FunctionName="reserved", ReservedConcurrentExecutions=100000)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.put_function_concurrency(FunctionName="nobody", ReservedConcurrentExecutions=1)


def test_put_and_get_function_event_invoke_config(lam, platform):
    deploy(platform, "async-fn", 1)
    deploy(platform, "on-failure", 1)
    r = lam.put_function_event_invoke_config(
        FunctionName="async-fn", MaximumRetryAttempts=1, MaximumEventAgeInSeconds=600,
        DestinationConfig={"OnFailure": {"Destination": "on-failure"}})
    assert r["MaximumRetryAttempts"] == 1 and r["MaximumEventAgeInSeconds"] == 600
    assert r["FunctionArn"].endswith(":async-fn:$LATEST")
    assert r["DestinationConfig"]["OnFailure"]["Destination"] == \
        "arn:aws:lambda:us-east-1:000000000000:function:on-failure"
    got = lam.get_function_event_invoke_config(FunctionName="async-fn")
    assert got["MaximumRetryAttempts"] == 1 and "LastModified" in got
    # Put replaces: what the request omits goes back to its default
    r = lam.put_function_event_invoke_config(FunctionName="async-fn", MaximumRetryAttempts=0)
    assert r["MaximumRetryAttempts"] == 0 and r["MaximumEventAgeInSeconds"] == 21600
    assert not r["DestinationConfig"].get("OnFailure")
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_event_invoke_config(FunctionName="async-fn", MaximumRetryAttempts=5)
