"""Invoke through boto3: status codes, headers, log tails, client context, qualifiers, async and
dry runs, and the error shapes of refused invocations."""
import base64
import json

import pytest

from apiserver import client, lam, platform, server, src  # noqa: F401 (fixtures)
from nblambda.api.invoke import log_tail

ECHO = src("""
    def handler(event, context):
        print("got", event)
        return {"event": event, "version": context.function_version,
                "arn": context.invoked_function_arn}
""")


@pytest.fixture(scope="module", autouse=True)
def functions(platform):
    platform.deploy("echo", ECHO)
    platform.deploy("fails", "def handler(event, context):\n    raise ValueError('bad input')\n")
    platform.deploy("context", src("""
        def handler(event, context):
            cc = context.client_context
            return {"custom": cc.custom, "app": cc.client.app_title} if cc else None
    """))


def test_request_response_returns_the_payload_and_executed_version(lam):
    r = lam.invoke(FunctionName="echo", Payload=json.dumps({"k": [1, 2]}))
    assert r["StatusCode"] == 200 and r["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in r and "LogResult" not in r
    body = json.loads(r["Payload"].read())
    assert body["event"] == {"k": [1, 2]} and body["version"] == "$LATEST"
    assert r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_no_payload_is_an_empty_object(lam):
    assert json.loads(lam.invoke(FunctionName="echo")["Payload"].read())["event"] == {}


def test_function_error_is_200_with_the_function_error_header(lam):
    r = lam.invoke(FunctionName="fails")
    assert r["StatusCode"] == 200 and r["FunctionError"] == "Unhandled"
    error = json.loads(r["Payload"].read())
    assert error["errorType"] == "ValueError" and error["errorMessage"] == "bad input"
    assert error["stackTrace"] and error["requestId"] == \
        r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]


def test_log_type_tail_returns_the_log_end_in_base64(lam):
    r = lam.invoke(FunctionName="echo", Payload=b'{"x": 1}', LogType="Tail")
    log = base64.b64decode(r["LogResult"]).decode("utf-8")
    assert "START RequestId:" in log and "got {'x': 1}" in log and "REPORT RequestId:" in log
    assert "got" not in r["Payload"].read().decode()  # logs never leak into the payload


def test_log_tail_never_splits_a_utf8_character(lam, platform):
    # The handler prints 2000 "€" (3 bytes each) then `pad` ASCII bytes; the log's ASCII end (END,
    # REPORT) follows. Shifting `pad` moves the 4096-byte cut across the three bytes of a "€",
    # so some of these cuts fall inside a character: the tail must start after it, never on
    # a continuation byte.
    platform.deploy("euro", src("""
        def handler(event, context):
            print("€" * 2000 + "x" * event["pad"])
    """))
    cut_inside = 0
    for pad in range(6):
        r = lam.invoke(FunctionName="euro", Payload=json.dumps({"pad": pad}), LogType="Tail")
        raw = base64.b64decode(r["LogResult"])
        assert raw.decode("utf-8").startswith("€")  # decodes: no half character anywhere
        full = platform.invocations("euro", 1)[0].logs.encode()
        assert full.endswith(raw) and 4096 - 2 <= len(raw) <= 4096
        cut_inside += len(raw) < 4096  # bytes of a split "€" were dropped
    assert cut_inside >= 2


def test_log_tail_helper_drops_continuation_bytes():
    text = "a" + "é" * 3000  # two bytes each: a 4096-byte cut lands on a boundary or mid-char
    for extra in ("", "z"):
        raw = base64.b64decode(log_tail(text + extra))
        raw.decode("utf-8")
        assert len(raw) in (4095, 4096)


def test_client_context_reaches_the_handler(lam):
    context = {"client": {"app_title": "notes", "installation_id": "i-1"},
               "custom": {"user": "ada"}, "env": {"locale": "en"}}
    r = lam.invoke(FunctionName="context",
                   ClientContext=base64.b64encode(json.dumps(context).encode()).decode())
    assert json.loads(r["Payload"].read()) == {"custom": {"user": "ada"}, "app": "notes"}
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.invoke(FunctionName="context", ClientContext="not base64 json!")


def test_qualifier_runs_the_version_or_alias(lam, platform):
    platform.deploy("staged", "def handler(e, c):\n    return 'one'\n", publish=True)
    platform.deploy("staged", "def handler(e, c):\n    return 'two'\n")
    platform.create_alias("staged", "prod", "1")
    for kwargs, payload, version in [
            ({"Qualifier": "1"}, b'"one"', "1"),
            ({"Qualifier": "prod"}, b'"one"', "1"),
            ({"Qualifier": "$LATEST"}, b'"two"', "$LATEST"),
            ({}, b'"two"', "$LATEST")]:
        r = lam.invoke(FunctionName="staged", **kwargs)
        assert r["Payload"].read() == payload and r["ExecutedVersion"] == version
    r = lam.invoke(FunctionName="arn:aws:lambda:us-east-1:000000000000:function:echo:$LATEST")
    assert json.loads(r["Payload"].read())["arn"].endswith("function:echo:$LATEST")


def test_event_invocation_is_accepted_with_202(lam, platform):
    r = lam.invoke(FunctionName="echo", InvocationType="Event", Payload=b'{"async": true}')
    assert r["StatusCode"] == 202 and r["Payload"].read() == b""
    request_id = r["ResponseMetadata"]["HTTPHeaders"]["x-amzn-requestid"]
    assert platform.wait_for_async(30, "echo")
    assert any(i.request_id == request_id and i.payload["event"] == {"async": True}
               for i in platform.invocations("echo", 20))


def test_dry_run_is_204_and_runs_nothing(lam, platform):
    before = len(platform.invocations("echo", 1000))
    r = lam.invoke(FunctionName="echo", InvocationType="DryRun")
    assert r["StatusCode"] == 204
    assert len(platform.invocations("echo", 1000)) == before
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName="nobody", InvocationType="DryRun")


# -- refusals ---------------------------------------------------------------------------------------
def test_unknown_function_is_404(lam):
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as info:
        lam.invoke(FunctionName="nobody")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


def test_too_large_requests_are_413(lam):
    big = b'"' + b"x" * (6 * 1024 * 1024) + b'"'
    with pytest.raises(lam.exceptions.RequestTooLargeException) as info:
        lam.invoke(FunctionName="echo", Payload=big)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    one_mb = b'"' + b"x" * (1024 * 1024) + b'"'
    with pytest.raises(lam.exceptions.RequestTooLargeException):
        lam.invoke(FunctionName="echo", Payload=one_mb, InvocationType="Event")


def test_payload_that_is_not_json_is_invalid_request_content(lam):
    with pytest.raises(lam.exceptions.InvalidRequestContentException) as info:
        lam.invoke(FunctionName="echo", Payload=b"{not json")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_throttled_invocation_is_429_with_the_reason(lam, platform):
    platform.deploy("disabled", "def handler(e, c):\n    return 1\n")
    lam.put_function_concurrency(FunctionName="disabled", ReservedConcurrentExecutions=0)
    with pytest.raises(lam.exceptions.TooManyRequestsException) as info:
        lam.invoke(FunctionName="disabled")
    response = info.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 429
    assert response["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    assert response["Error"]["Message"] == "Rate Exceeded."


def test_invalid_invocation_type_and_qualifier(server):
    lam = client(server.endpoint, validate=False)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.invoke(FunctionName="echo", InvocationType="Sometimes")
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.invoke(FunctionName="echo", Qualifier="../../etc")


def test_concurrent_clients(server, platform):
    from concurrent.futures import ThreadPoolExecutor

    def one(i):
        return json.loads(client(server.endpoint).invoke(
            FunctionName="echo", Payload=json.dumps(i))["Payload"].read())["event"]

    with ThreadPoolExecutor(4) as pool:
        assert sorted(pool.map(one, range(12))) == list(range(12))
