"""AWS Signature Version 4, verified on the server side, for the key pair the server was given.

The server recomputes what the SDK signed — the canonical request (method, URI, query, signed
headers, payload hash), the string to sign and the signing key derived from the secret, the date,
the region and the service — and compares signatures in constant time. Refusals use the codes AWS
sends: no ``Authorization`` header -> MissingAuthenticationTokenException, an unknown access key ->
UnrecognizedClientException, a wrong signature or an old timestamp -> InvalidSignatureException.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os
import re
import time
from dataclasses import dataclass
from typing import Callable, Iterable
from urllib.parse import quote, unquote

from .errors import (IncompleteSignatureException, InvalidSignatureException,
                     MissingAuthenticationTokenException, UnrecognizedClientException)

ALGORITHM = "AWS4-HMAC-SHA256"
MAX_SKEW_S = 5 * 60  # AWS refuses a signature whose X-Amz-Date is over 5 minutes off
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
ENV_ACCESS_KEY = "NBLAMBDA_ACCESS_KEY_ID"
ENV_SECRET_KEY = "NBLAMBDA_SECRET_ACCESS_KEY"
_AUTH = re.compile(r"^(?P<alg>\S+)\s+(?P<params>.*)$")
_ACCESS_KEY = re.compile(r"^[A-Za-z0-9+/=._-]{4,128}$")


@dataclass(frozen=True)
class Credentials:
    """The access key pair requests must be signed with."""

    access_key: str
    secret_key: str

    def __post_init__(self) -> None:
        if not _ACCESS_KEY.match(self.access_key or "") or len(self.secret_key or "") < 8:
            raise ValueError("An access key needs 4-128 letters, digits or +/=._- and a secret "
                             "key of at least 8 characters")

    @classmethod
    def from_env(cls, environ: dict | None = None) -> "Credentials | None":
        """The pair in $NBLAMBDA_ACCESS_KEY_ID / $NBLAMBDA_SECRET_ACCESS_KEY, if both are set."""
        environ = os.environ if environ is None else environ
        key, secret = environ.get(ENV_ACCESS_KEY), environ.get(ENV_SECRET_KEY)
        return cls(key, secret) if key and secret else None

    def __repr__(self) -> str:  # never print the secret
        return f"Credentials(access_key={self.access_key!r}, secret_key='***')"


def remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4, plus AWS's removal of empty segments (as botocore normalises the path)."""
    if not path:
        return "/"
    out: list[str] = []
    for part in path.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if out:
                out.pop()
        else:
            out.append(part)
    trailing = "/" if path.endswith("/") and out else ""
    return "/" + "/".join(out) + trailing


def canonical_uri(raw_path: str) -> str:
    """Every service but S3 URI-encodes the (already encoded) path once more: %3A becomes %253A."""
    return quote(remove_dot_segments(raw_path), safe="/~")


def canonical_query(raw_query: str) -> str:
    pairs = []
    for pair in raw_query.split("&"):
        if not pair:
            continue
        key, _, value = pair.partition("=")
        pairs.append((quote(unquote(key), safe="-_.~"), quote(unquote(value), safe="-_.~")))
    return "&".join(f"{k}={v}" for k, v in sorted(pairs))


def canonical_headers(headers: Iterable[tuple[str, str]], signed: list[str]) -> str:
    values: dict[str, list[str]] = {}
    for name, value in headers:
        values.setdefault(name.lower(), []).append(" ".join(value.split()))
    lines = []
    for name in signed:
        if name not in values:
            raise InvalidSignatureException(
                f"The request signature we calculated does not match the signature you provided: "
                f"signed header '{name}' is not in the request.")
        lines.append(f"{name}:{','.join(values[name])}")
    return "\n".join(lines) + "\n"


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    key = hmac.new(f"AWS4{secret}".encode(), date.encode(), hashlib.sha256).digest()
    for part in (region, service, "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return key


def _parse_authorization(value: str) -> tuple[str, list[str], str]:
    match = _AUTH.match(value.strip())
    if not match or match["alg"] != ALGORITHM:
        raise IncompleteSignatureException(
            f"Authorization header requires the {ALGORITHM} algorithm (Signature Version 4).")
    params = {}
    for item in match["params"].split(","):
        key, sep, val = item.strip().partition("=")
        if sep:
            params[key] = val.strip()
    missing = [k for k in ("Credential", "SignedHeaders", "Signature") if k not in params]
    if missing:
        raise IncompleteSignatureException(
            f"Authorization header requires '{missing[0]}' parameter. Authorization={value}")
    return params["Credential"], params["SignedHeaders"].split(";"), params["Signature"]


class SigV4Verifier:
    """Checks requests against one key pair. ``clock`` (epoch seconds) is injectable for tests."""

    def __init__(self, credentials: Credentials, clock: Callable[[], float] = time.time) -> None:
        self.credentials = credentials
        self.clock = clock

    def verify(self, method: str, raw_path: str, raw_query: str,
               headers: list[tuple[str, str]], body: bytes, service: str) -> str:
        """Return the caller's access key, or raise AWS's error for the request."""
        lowered = [(k.lower(), v) for k, v in headers]
        found = {k: v for k, v in lowered}
        authorization = found.get("authorization")
        if not authorization:
            raise MissingAuthenticationTokenException("Missing Authentication Token")
        credential, signed, signature = _parse_authorization(authorization)
        scope = credential.split("/")
        if len(scope) != 5 or scope[4] != "aws4_request":
            raise IncompleteSignatureException(
                f"Credential should be scoped to a valid region, and service. Credential={credential}")
        access_key, date, region, scoped_service, _ = scope
        if not hmac.compare_digest(access_key, self.credentials.access_key):
            raise UnrecognizedClientException("The security token included in the request is invalid.")
        if scoped_service != service:
            raise InvalidSignatureException(
                f"Credential should be scoped to correct service: '{service}'.")
        stamp = found.get("x-amz-date", "")
        self._check_time(stamp, date)
        if "host" not in signed:
            raise InvalidSignatureException("'Host' must be a 'SignedHeader' in the AWS Authorization.")
        payload_hash = self._payload_hash(found.get("x-amz-content-sha256"), body)
        canonical = "\n".join([method.upper(), canonical_uri(raw_path), canonical_query(raw_query),
                               canonical_headers(lowered, signed), ";".join(signed), payload_hash])
        to_sign = "\n".join([ALGORITHM, stamp, "/".join(scope[1:]),
                             hashlib.sha256(canonical.encode()).hexdigest()])
        key = signing_key(self.credentials.secret_key, date, region, scoped_service)
        expected = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise InvalidSignatureException(
                "The request signature we calculated does not match the signature you provided. "
                "Check your AWS Secret Access Key and signing method. Consult the service "
                "documentation for details.")
        return access_key

    def _check_time(self, stamp: str, scope_date: str) -> None:
        if not stamp:
            raise IncompleteSignatureException(
                "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' "
                "header.")
        try:
            when = dt.datetime.strptime(stamp, "%Y%m%dT%H%M%SZ").replace(tzinfo=dt.timezone.utc)
        except ValueError:
            raise IncompleteSignatureException(f"Date must be in ISO-8601 'basic format'. "
                                               f"Got '{stamp}'.") from None
        if stamp[:8] != scope_date:
            raise InvalidSignatureException(
                f"Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                f"from HTTP: '{scope_date}' != '{stamp[:8]}'")
        now = self.clock()
        if abs(when.timestamp() - now) > MAX_SKEW_S:
            fmt = "%Y%m%dT%H%M%SZ"
            at = dt.datetime.fromtimestamp(now, dt.timezone.utc)
            edge = at - dt.timedelta(seconds=MAX_SKEW_S)
            raise InvalidSignatureException(
                f"Signature expired: {stamp} is now earlier than {edge.strftime(fmt)} "
                f"({at.strftime(fmt)} - 5 min.)" if when < edge else
                f"Signature not yet current: {stamp} is still later than "
                f"{(at + dt.timedelta(seconds=MAX_SKEW_S)).strftime(fmt)} "
                f"({at.strftime(fmt)} + 5 min.)")

    @staticmethod
    def _payload_hash(claimed: str | None, body: bytes) -> str:
        actual = hashlib.sha256(body).hexdigest() if body else EMPTY_SHA256
        if claimed is None or claimed == UNSIGNED_PAYLOAD:
            return claimed or actual
        if not hmac.compare_digest(claimed.lower(), actual):
            raise InvalidSignatureException(
                "The provided 'x-amz-content-sha256' header does not match what was computed.")
        return claimed

    # -- links the server hands out (GetFunction's Code.Location), like S3's presigned URLs --------
    def url_token(self, path: str, expires: int) -> str:
        message = f"{path}\n{expires}".encode()
        return hmac.new(self.credentials.secret_key.encode(), message, hashlib.sha256).hexdigest()

    def check_url_token(self, path: str, expires: str, token: str) -> bool:
        if not expires.isdigit() or int(expires) < self.clock():
            return False
        return hmac.compare_digest(self.url_token(path, int(expires)), token)
