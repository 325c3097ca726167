"""JSON rules of Lambda's Python runtime for events and results.

awslambdaric encodes with simplejson: Decimal as its exact digits, NaN and Infinity allowed,
non-ASCII escaped before python3.12 and raw UTF-8 from 3.12 on; ``bytes`` pass through unchanged.
The stdlib has no raw-number hook, so Decimals go out as unique placeholder strings that are
swapped for their digits after encoding.
"""
import decimal
import json
import math
import os
import sys


class MarshalError(Exception):
    pass


class UnmarshalError(Exception):
    pass


ENSURE_ASCII = sys.version_info < (3, 12)


def decode_event(body):
    try:
        return json.loads(body)
    except Exception as exc:
        raise UnmarshalError("Unable to unmarshal input: %s" % exc) from None


def encode_result(value):
    """Returns (body bytes, content type)."""
    if isinstance(value, bytes):
        return value, "application/unknown"
    decimals = []
    nonce = []

    def default(obj):
        if isinstance(obj, decimal.Decimal):
            if obj.is_nan():
                return math.nan
            if not nonce:
                nonce.append(os.urandom(6).hex())
            decimals.append(str(obj))
            return "\x00%s:%d\x00" % (nonce[0], len(decimals) - 1)
        raise TypeError("Object of type %s is not JSON serializable" % type(obj).__name__)

    try:
        text = json.dumps(value, ensure_ascii=ENSURE_ASCII, allow_nan=True, default=default)
    except Exception as exc:
        raise MarshalError("Unable to marshal response: %s" % exc) from None
    for i, digits in enumerate(decimals):
        text = text.replace('"\\u0000%s:%d\\u0000"' % (nonce[0], i), digits, 1)
    return text.encode("utf-8"), "application/json"
