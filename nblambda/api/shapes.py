"""The JSON shapes of Lambda's REST API (FunctionConfiguration, AliasConfiguration, pages), built
from the platform's value objects. Field names and formats follow botocore's service model."""
from __future__ import annotations

import base64
import binascii
import json
import time
import uuid
from typing import Any, Callable, Sequence

from ..errors import InvalidParameterValueException
from ..models import Alias, FunctionConfig, function_arn

DEFAULT_ROLE = "arn:aws:iam::000000000000:role/nblambda-local"
_REVISIONS = uuid.UUID("6d1c3f0e-8b0a-4a53-9d0e-6e6c2b6f0b5a")  # namespace for RevisionId


def last_modified(timestamp: float) -> str:
    """Lambda's LastModified format: ``2024-05-01T12:34:56.789+0000``."""
    millis = int(timestamp % 1 * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(timestamp)) + f".{millis:03d}+0000"


def revision_id(config: FunctionConfig) -> str:
    """A RevisionId that changes whenever the function's code or configuration is written."""
    return str(uuid.uuid5(_REVISIONS, f"{config.name}:{config.version}:{config.code_hash}:"
                                      f"{config.updated_at!r}"))


def code_sha256(config: FunctionConfig) -> str:
    """CodeSha256 is base64 (not hex) of a SHA-256, as AWS reports it."""
    try:
        return base64.b64encode(bytes.fromhex(config.code_hash)).decode()
    except ValueError:
        return config.code_hash


def function_configuration(config: FunctionConfig, *, role: str | None = None,
                           qualifier: str | None = None) -> dict[str, Any]:
    """``FunctionConfiguration``. The ARN carries ``qualifier`` when the caller used one (a version
    or an alias); an unqualified $LATEST has the bare function ARN, as AWS returns it."""
    shape: dict[str, Any] = {
        "FunctionName": config.name,
        "FunctionArn": function_arn(config.name, qualifier),
        "Runtime": config.runtime or "python3",
        "Role": role or DEFAULT_ROLE,
        "Handler": config.handler,
        "CodeSize": len(config.source.encode("utf-8")),
        "Description": config.description,
        "Timeout": config.timeout,
        "MemorySize": config.memory,
        "LastModified": last_modified(config.updated_at),
        "CodeSha256": code_sha256(config),
        "Version": config.version,
        "Environment": {"Variables": dict(config.environment)},
        "TracingConfig": {"Mode": "PassThrough"},
        "RevisionId": revision_id(config),
        "State": "Active",
        "LastUpdateStatus": "Successful",
        "PackageType": "Zip",
        "Architectures": ["x86_64"],
        "EphemeralStorage": {"Size": 512},
        "SnapStart": {"ApplyOn": "None", "OptimizationStatus": "Off"},
        "LoggingConfig": {"LogFormat": "Text", "LogGroup": f"/aws/lambda/{config.name}"},
    }
    return shape


def alias_configuration(alias: Alias) -> dict[str, Any]:
    shape: dict[str, Any] = {
        "AliasArn": alias.arn,
        "Name": alias.name,
        "FunctionVersion": alias.function_version,
        "Description": alias.description,
        "RevisionId": alias.revision_id,
    }
    if alias.routing:
        shape["RoutingConfig"] = {"AdditionalVersionWeights": dict(alias.routing)}
    return shape


def routing_weights(body: dict) -> dict[str, float] | None:
    config = body.get("RoutingConfig")
    if config is None:
        return None
    weights = config.get("AdditionalVersionWeights") or {}
    if not isinstance(weights, dict):
        raise InvalidParameterValueException("AdditionalVersionWeights must be a map")
    return {str(k): float(v) for k, v in weights.items()}


# -- pagination (Marker / MaxItems -> NextMarker) ------------------------------------------------
def page(items: Sequence[Any], key: Callable[[Any], Any], marker: str | None,
         max_items: str | None, default: int = 50) -> tuple[list[Any], str | None]:
    """One page of ``items`` (sorted by ``key``) after ``marker``. Markers are opaque to clients
    (as AWS's are) and name the last key returned, so creating or deleting items between two
    pages neither repeats nor skips the others."""
    limit = _max_items(max_items, default)
    ordered = sorted(items, key=key)
    if marker:
        after = _decode_marker(marker)
        try:
            ordered = [item for item in ordered if _comparable(key(item)) > after]
        except TypeError:
            raise InvalidParameterValueException(f"Invalid Marker: {marker!r}") from None
    chunk = ordered[:limit]
    more = len(ordered) > limit
    return chunk, _encode_marker(key(chunk[-1])) if more and chunk else None


def _max_items(value: str | None, default: int) -> int:
    if value in (None, ""):
        return default
    if not str(value).isdigit() or not 1 <= int(value) <= 10000:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value '{value}' at 'maxItems' failed to satisfy "
            "constraint: Member must have value between 1 and 10000")
    return int(value)


def _comparable(key: Any) -> Any:
    return json.loads(json.dumps(key))  # tuples become lists, as they come back from a marker


def _encode_marker(key: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode()


def _decode_marker(marker: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(marker.encode()))
    except (binascii.Error, ValueError, UnicodeError):
        raise InvalidParameterValueException(f"Invalid Marker: {marker!r}") from None
