"""Signature Version 4: with a key pair configured, only requests signed with it get through."""
import datetime as dt
import json

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from apiserver import Credentials, Server, aws_cli, client, http, platform  # noqa: F401
from nblambda.api import sigv4
from nblambda.errors import InvalidParameterValueException

KEY, SECRET = "AKIDNBLAMBDATEST", "s3cr3t-key-for-tests"


@pytest.fixture(scope="module")
def secured(platform):
    platform.deploy("guarded", "def handler(event, context):\n    return {'ok': event}\n")
    platform.add_route("GET /guarded", "guarded")
    s = Server(platform, port=0, credentials=Credentials(KEY, SECRET)).start()
    yield s
    s.stop()


def test_the_right_key_is_accepted(secured):
    lam = client(secured.endpoint, KEY, SECRET)
    r = lam.invoke(FunctionName="guarded", Payload=b'{"n": 1}')
    assert json.loads(r["Payload"].read()) == {"ok": {"n": 1}}
    assert "guarded" in [f["FunctionName"] for f in lam.list_functions()["Functions"]]
    # path labels with ':' (an ARN) are double-encoded in the canonical URI, as botocore signs
    arn = "arn:aws:lambda:us-east-1:000000000000:function:guarded"
    assert lam.get_function_configuration(FunctionName=arn, Qualifier="$LATEST")["Version"] \
        == "$LATEST"


def test_a_wrong_secret_is_rejected(secured):
    lam = client(secured.endpoint, KEY, "not-the-secret")
    with pytest.raises(lam.exceptions.ClientError) as info:
        lam.invoke(FunctionName="guarded")
    error = info.value.response
    assert error["Error"]["Code"] == "InvalidSignatureException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "signature we calculated does not match" in error["Error"]["Message"]


def test_an_unknown_access_key_is_unrecognized(secured):
    lam = client(secured.endpoint, "AKIDSOMEONEELSE", SECRET)
    with pytest.raises(lam.exceptions.ClientError) as info:
        lam.list_functions()
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_an_unsigned_request_is_refused(secured):
    lam = client(secured.endpoint, signed=False)
    with pytest.raises(lam.exceptions.ClientError) as info:
        lam.list_functions()
    assert info.value.response["Error"]["Code"] == "MissingAuthenticationTokenException"
    status, headers, body = http("POST", secured.endpoint +
                                 "/2015-03-31/functions/guarded/invocations", b"{}")
    assert status == 403 and headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert json.loads(body)["message"] == "Missing Authentication Token"


def _signed(url, method, body, key, secret, service="lambda", when=None):
    request = AWSRequest(method=method, url=url, data=body)
    auth = SigV4Auth(BotoCredentials(key, secret), service, "us-east-1")
    if when is None:
        auth.add_auth(request)
    else:  # sign as of another time
        from unittest import mock
        with mock.patch("botocore.auth.get_current_datetime", return_value=when):
            auth.add_auth(request)
    return dict(request.headers.items())


def test_a_tampered_body_fails_the_signature(secured):
    url = secured.endpoint + "/2015-03-31/functions/guarded/invocations"
    headers = _signed(url, "POST", b'{"n": 1}', KEY, SECRET)
    assert http("POST", url, b'{"n": 1}', headers)[0] == 200
    status, headers_out, _ = http("POST", url, b'{"n": 2}', headers)
    assert status == 403 and headers_out["x-amzn-errortype"] == "InvalidSignatureException"


def test_an_old_signature_has_expired(secured):
    url = secured.endpoint + "/2015-03-31/functions/"
    old = dt.datetime.now(dt.timezone.utc).replace(tzinfo=None) - dt.timedelta(minutes=20)
    status, headers, body = http("GET", url, None, _signed(url, "GET", b"", KEY, SECRET, when=old))
    assert status == 403 and "Signature expired" in json.loads(body)["message"]


def test_routes_need_an_execute_api_signature(secured):
    url = secured.endpoint + "/guarded"
    assert http("GET", url)[0] == 403
    assert http("GET", url, None, _signed(url, "GET", b"", KEY, "wrong-secret-xx",
                                          "execute-api"))[0] == 403
    status, _, body = http("GET", url, None, _signed(url, "GET", b"", KEY, SECRET, "execute-api"))
    assert status == 200 and json.loads(body) == {"ok": json.loads(body)["ok"]}
    event = json.loads(body)["ok"]
    assert event["requestContext"]["authorizer"]["iam"]["accessKey"] == KEY


def test_code_location_links_are_signed_and_expire(secured):
    lam = client(secured.endpoint, KEY, SECRET)
    location = lam.get_function(FunctionName="guarded")["Code"]["Location"]
    assert http("GET", location)[0] == 200
    assert http("GET", location.replace("Signature=", "Signature=0"))[0] == 403
    assert http("GET", location.replace("Qualifier=%24LATEST", "Qualifier=1"))[0] == 403


def test_aws_cli_signs_with_the_configured_key(secured, tmp_path):
    ok = aws_cli(secured.endpoint, tmp_path, "get-function-configuration",
                 "--function-name", "guarded", key=KEY, secret=SECRET)
    assert ok.returncode == 0, ok.stderr
    assert json.loads(ok.stdout)["FunctionName"] == "guarded"
    bad = aws_cli(secured.endpoint, tmp_path, "list-functions", key=KEY, secret="nope-nope-nope")
    assert bad.returncode != 0 and "InvalidSignatureException" in bad.stderr


def test_binding_beyond_loopback_needs_a_key_pair(platform):
    with pytest.raises(InvalidParameterValueException, match="access key pair"):
        Server(platform, host="0.0.0.0", port=0)
    with pytest.raises(ValueError):
        Credentials("k", "short")


def test_verifier_against_botocore_signatures_with_an_injected_clock():
    verifier = sigv4.SigV4Verifier(Credentials(KEY, SECRET), clock=lambda: 1_700_000_000)
    when = dt.datetime.fromtimestamp(1_700_000_000, dt.timezone.utc).replace(tzinfo=None)
    url = "http://127.0.0.1:9001/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A" \
          "000000000000%3Afunction%3Ax/invocations?Qualifier=%24LATEST"
    headers = _signed(url, "POST", b"{}", KEY, SECRET, when=when)
    headers["Host"] = "127.0.0.1:9001"
    path, _, query = url.split("9001", 1)[1].partition("?")
    assert verifier.verify("POST", path, query, list(headers.items()), b"{}", "lambda") == KEY
    late = sigv4.SigV4Verifier(Credentials(KEY, SECRET), clock=lambda: 1_700_000_000 + 301)
    with pytest.raises(sigv4.InvalidSignatureException, match="Signature expired"):
        late.verify("POST", path, query, list(headers.items()), b"{}", "lambda")
    with pytest.raises(sigv4.InvalidSignatureException, match="correct service"):
        verifier.verify("POST", path, query, list(headers.items()), b"{}", "execute-api")


def test_signing_key_matches_aws_documented_example():
    # AWS's SigV4 documentation example: secret wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY,
    # 20120215, us-east-1, iam.
    key = sigv4.signing_key("wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", "20120215", "us-east-1",
                            "iam")
    assert key.hex() == "f4780e2d9f65fa895f9c67b32ce1baf0b0d8a43505a000a1a9e090d414db404d"
