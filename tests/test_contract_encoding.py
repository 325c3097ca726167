"""JSON rules for events and results (awslambdaric's marshaller)."""
import json
import sys

import pytest

from conftest import src

# The Lambda contract holds on every sandbox backend: each test runs once per backend.
pytestmark = pytest.mark.all_backends


def deploy(platform, name, body):
    platform.deploy(name, src(body))


def test_decimal_is_encoded_as_its_exact_digits(platform):
    deploy(platform, "dec", """
        from decimal import Decimal
        def handler(event, context):
            return {"price": Decimal("19.990"), "big": Decimal("12345678901234567890.123456789"),
                    "nan": Decimal("NaN")}
    """)
    r = platform.invoke("dec")
    raw = r.raw_payload.decode()
    assert '"price": 19.990' in raw
    assert '"big": 12345678901234567890.123456789' in raw
    assert '"nan": NaN' in raw


def test_nan_and_infinity_are_allowed(platform):
    deploy(platform, "nan", """
        def handler(event, context):
            return [float("nan"), float("inf"), -float("inf")]
    """)
    r = platform.invoke("nan")
    assert r.error is None
    assert r.raw_payload == b"[NaN, Infinity, -Infinity]"


def test_non_ascii_follows_the_runtime_version(platform):
    deploy(platform, "utf", """
        def handler(event, context):
            return {"city": "Zürich", "echo": event}
    """)
    r = platform.invoke("utf", "日本")
    assert r.payload == {"city": "Zürich", "echo": "日本"}
    if sys.version_info < (3, 12):
        assert r.raw_payload == b'{"city": "Z\\u00fcrich", "echo": "\\u65e5\\u672c"}'
    else:
        assert r.raw_payload == '{"city": "Zürich", "echo": "日本"}'.encode()


def test_bytes_are_passed_through_unchanged(platform):
    deploy(platform, "raw", """
        def handler(event, context):
            return b"\\x89PNG\\r\\n\\x00raw"
    """)
    r = platform.invoke("raw")
    assert r.payload == b"\x89PNG\r\n\x00raw"
    assert r.content_type == "application/unknown"
    assert r.response_bytes == b"\x89PNG\r\n\x00raw"


def test_unencodable_result_is_a_marshal_error(platform):
    deploy(platform, "bad", """
        def handler(event, context):
            return {"s": {1, 2}}
    """)
    r = platform.invoke("bad")
    assert r.error["errorType"] == "Runtime.MarshalError"
    assert r.error["errorMessage"] == \
        "Unable to marshal response: Object of type set is not JSON serializable"
    assert r.error["requestId"] == r.request_id
    assert r.status == "error"


def test_invalid_json_payload_is_an_unmarshal_error(platform):
    deploy(platform, "echo", """
        def handler(event, context):
            return event
    """)
    r = platform.invoke("echo", payload=b"{not json")
    assert r.error["errorType"] == "Runtime.UnmarshalError"
    assert r.error["errorMessage"].startswith("Unable to unmarshal input: Expecting property name")
    # the sandbox survives: the next invocation is warm
    r2 = platform.invoke("echo", payload=b'{"ok": true}')
    assert r2.payload == {"ok": True} and not r2.cold


def test_raw_payload_is_passed_as_sent(platform):
    deploy(platform, "echo", """
        def handler(event, context):
            return event
    """)
    assert platform.invoke("echo", payload='{"a": [1, 2]}').payload == {"a": [1, 2]}
    assert json.loads(platform.invoke("echo", payload=b"null").raw_payload) is None
