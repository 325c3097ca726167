"""Errors only the HTTP layer raises, and the one function that turns any refusal into AWS's shape.

botocore finds the error code in the ``X-Amzn-ErrorType`` header (and in the body's ``__type``),
and the message in the body's ``message``/``Message``; it then raises the modelled exception class
(``client.exceptions.ResourceNotFoundException``, ...). We send both, as Lambda does.
"""
from __future__ import annotations

import json
import uuid

from starlette.responses import Response

from ..errors import InvalidParameterValueException, InvalidRequestContentException, LambdaError

__all__ = ["InvalidRequestContentException", "PreconditionFailedException", "UnsupportedFeature"]


class PreconditionFailedException(LambdaError):
    """A ``RevisionId`` that is no longer the current one (optimistic locking)."""
    code = "PreconditionFailedException"
    status = 412


class UnknownOperationException(LambdaError):
    code = "UnknownOperationException"
    status = 404


class MissingAuthenticationTokenException(LambdaError):
    code = "MissingAuthenticationTokenException"
    status = 403


class UnrecognizedClientException(LambdaError):
    code = "UnrecognizedClientException"
    status = 403


class InvalidSignatureException(LambdaError):
    code = "InvalidSignatureException"
    status = 403


class IncompleteSignatureException(LambdaError):
    code = "IncompleteSignatureException"
    status = 400


class UnsupportedFeature(InvalidParameterValueException):
    """A parameter AWS accepts but nblambda cannot honour: refused rather than silently ignored."""


def error_response(exc: LambdaError, request_id: str | None = None) -> Response:
    body = exc.to_dict()
    if exc.code == "ServiceException":
        body["Type"] = "Service"
    if exc.code == "TooManyRequestsException":
        body.setdefault("retryAfterSeconds", "1")
    headers = {"X-Amzn-ErrorType": exc.code, "X-Amzn-RequestId": request_id or str(uuid.uuid4())}
    if exc.code == "TooManyRequestsException":
        headers["Retry-After"] = "1"
    return Response(json.dumps(body), status_code=exc.status, headers=headers,
                    media_type="application/json")


def service_error(exc: BaseException) -> LambdaError:
    """An unexpected failure inside nblambda: Lambda's ServiceException (500), with the cause."""
    error = LambdaError(f"nblambda could not complete the request: {type(exc).__name__}: {exc}")
    return error
