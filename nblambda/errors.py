"""Exceptions raised by the platform's Python API.

Each carries the AWS error code (``code``) that the Lambda API would return for the same mistake, so
the HTTP layer can map them one to one and users can search AWS's documentation for them.
"""
from __future__ import annotations


class LambdaError(Exception):
    """Base class: a request the platform refused. ``code`` is AWS's exception name."""

    code = "ServiceException"
    status = 500

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.reason = reason

    def to_dict(self) -> dict:
        body = {"Type": "User", "message": self.message, "__type": self.code}
        if self.reason:
            body["Reason"] = self.reason
        return body


class ResourceNotFoundException(LambdaError):
    code = "ResourceNotFoundException"
    status = 404


class InvalidParameterValueException(LambdaError):
    code = "InvalidParameterValueException"
    status = 400


class InvalidRequestContentException(LambdaError):
    """Lambda's answer to an Invoke whose payload is not JSON (before any sandbox runs)."""
    code = "InvalidRequestContentException"
    status = 400


class RequestTooLargeException(LambdaError):
    code = "RequestTooLargeException"
    status = 413


class TooManyRequestsException(LambdaError):
    code = "TooManyRequestsException"
    status = 429


class ResourceConflictException(LambdaError):
    code = "ResourceConflictException"
    status = 409


class PlatformClosedError(LambdaError):
    code = "ServiceException"
    status = 500
