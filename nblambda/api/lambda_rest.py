"""The Lambda REST API's management operations, one method each, on the platform's Python API.

Every method takes a :class:`Call` (the parsed request) and returns ``(status, body)``; the app
turns that into the HTTP response. Status codes are Lambda's: 201 for creations, 204 for
deletions. Functions made here and functions deployed from a notebook cell are the same objects.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import quote

from .. import validation
from ..errors import (InvalidParameterValueException, ResourceConflictException,
                      ResourceNotFoundException)
from ..models import FunctionConfig
from ..platform import Platform
from ..registry import LATEST, parse_function_ref
from . import codezip, shapes
from .errors import InvalidRequestContentException, PreconditionFailedException, UnsupportedFeature

_QUALIFIER = re.compile(r"^(\$LATEST|[a-zA-Z0-9_-]{1,128})$")
# Configuration AWS accepts that a local sandbox cannot honour: refused, never silently dropped.
UNSUPPORTED = ("Layers", "VpcConfig", "FileSystemConfigs", "ImageConfig", "CodeSigningConfigArn",
               "SnapStart", "CapacityProviderConfig", "DurableConfig")
CODE_URL_TTL_S = 600  # how long a Code.Location link works (AWS's presigned links: 10 minutes)
Result = tuple[int, Any]


@dataclass
class Call:
    """One request to an operation: path parameters, query, headers and the raw body."""

    function: str | None = None
    alias: str | None = None
    query: Mapping[str, str] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    base_url: str = ""
    url_signer: Any = None  # (path, expires) -> token, when the server checks signatures

    def json(self) -> dict:
        if not self.body:
            return {}
        try:
            value = json.loads(self.body)
        except (ValueError, UnicodeError) as exc:
            raise InvalidRequestContentException(f"Could not parse request body into json: {exc}") \
                from None
        if not isinstance(value, dict):
            raise InvalidRequestContentException("The request body must be a JSON object")
        return value

    @property
    def qualifier(self) -> str | None:
        value = self.query.get("Qualifier")
        if value is None or value == "":
            return None
        if not _QUALIFIER.match(value):
            raise InvalidParameterValueException(
                f"1 validation error detected: Value '{value}' at 'qualifier' failed to satisfy "
                "constraint: Member must satisfy regular expression pattern: (|[a-zA-Z0-9$_-]+)")
        return value

    def target(self) -> tuple[str, str | None]:
        """(name, qualifier) from the path's FunctionName (a name, name:qualifier or an ARN)."""
        return function_ref(self.function or "", self.qualifier)

    def unqualified(self) -> str:
        name, qualifier = self.target()
        if qualifier is not None:
            raise InvalidParameterValueException(
                "This operation applies to the function, not to a version or alias: drop the "
                f"qualifier {qualifier!r}")
        return name


def function_ref(ref: str, qualifier: str | None = None) -> tuple[str, str | None]:
    """parse_function_ref plus Lambda's length rule (1-64) on the name it extracts."""
    name, qualifier = parse_function_ref(ref, qualifier)
    validation.check_name(name)
    if qualifier is not None and not _QUALIFIER.match(qualifier):
        raise InvalidParameterValueException(f"Invalid qualifier {qualifier!r}")
    return name, qualifier


def _int_field(body: dict, key: str, default: int | None = None) -> int | None:
    value = body.get(key, default)
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)):
        raise InvalidParameterValueException(f"{key} must be an integer, got {value!r}")
    return value


def _refuse_unsupported(body: dict) -> None:
    given = [key for key in UNSUPPORTED if body.get(key)]
    if given:
        raise UnsupportedFeature(
            f"nblambda does not emulate {', '.join(given)}: remove them from the request "
            "(local functions run without VPCs, layers, file systems or code signing)")


def _check_runtime(runtime: object) -> None:
    if runtime is not None and not (isinstance(runtime, str) and runtime.startswith("python3")):
        raise InvalidParameterValueException(
            f"Runtime {runtime!r} is not supported: nblambda runs Python functions (python3.x); "
            "the sandbox's own Python version is reported as the function's Runtime")


def _zip_bytes(body: dict) -> bytes:
    if body.get("S3Bucket") or body.get("S3Key") or body.get("ImageUri"):
        raise UnsupportedFeature("nblambda takes code as ZipFile only (S3Bucket/S3Key and ImageUri "
                                 "need AWS): pass ZipFile=open('function.zip','rb').read()")
    data = body.get("ZipFile")
    if not data:
        raise InvalidParameterValueException("Please provide a source for function code: ZipFile")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError, TypeError):
        raise InvalidParameterValueException("ZipFile must be base64-encoded zip bytes") from None


class LambdaApi:
    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._write_lock = threading.Lock()  # create-if-absent and read-modify-write are atomic

    # -- helpers ----------------------------------------------------------------------------------
    def role(self, name: str) -> str:
        return self.platform.store.get_setting(name, "role") or shapes.DEFAULT_ROLE

    def shape(self, config: FunctionConfig, qualifier: str | None = None) -> dict:
        return shapes.function_configuration(config, role=self.role(config.name),
                                             qualifier=qualifier)

    def _redeploy(self, current: FunctionConfig, *, source: str | None = None,
                  handler: str | None = None, publish: bool = False, **changes: Any) -> FunctionConfig:
        """Write $LATEST again with some fields changed and every other one kept."""
        options = dict(memory=current.memory, timeout=current.timeout,
                       environment=current.environment, backend=current.backend,
                       description=current.description, requirements=current.requirements,
                       image=current.image, network=current.network)
        options.update({k: v for k, v in changes.items() if v is not None})
        return self.platform.deploy(current.name, current.source if source is None else source,
                                    handler or current.handler, publish=publish, **options)

    @staticmethod
    def _check_revision(expected: str | None, current: str) -> None:
        if expected and expected != current:
            raise PreconditionFailedException(
                "The Revision Id provided does not match the latest Revision Id. Call the "
                "GetFunction/GetAlias API to retrieve the latest Revision Id")

    # -- functions --------------------------------------------------------------------------------
    def create_function(self, call: Call) -> Result:
        body = call.json()
        _refuse_unsupported(body)
        if body.get("PackageType", "Zip") != "Zip":
            raise UnsupportedFeature("nblambda deploys Zip packages only (PackageType=Zip)")
        name, qualifier = function_ref(body.get("FunctionName") or "")
        if qualifier is not None:
            raise InvalidParameterValueException("FunctionName cannot carry a qualifier on create")
        _check_runtime(body.get("Runtime"))
        handler = body.get("Handler")
        if not handler:
            raise InvalidParameterValueException("Handler is required for a Zip package")
        codezip.check_handler(handler)
        source = codezip.module_source(_zip_bytes(body.get("Code") or {}), handler)
        env = (body.get("Environment") or {}).get("Variables")
        with self._write_lock:
            try:
                self.platform.get_function(name)
            except ResourceNotFoundException:
                pass
            else:
                raise ResourceConflictException(f"Function already exist: {name}")
            config = self.platform.deploy(
                name, source, handler, memory=_int_field(body, "MemorySize", 128),
                timeout=_int_field(body, "Timeout", 3), environment=env,
                description=body.get("Description") or "", publish=bool(body.get("Publish")))
            if body.get("Role"):
                self.platform.store.set_setting(name, "role", body["Role"])
        published = config.version if config.version != LATEST else None
        return 201, self.shape(config, published)

    def get_function(self, call: Call) -> Result:
        name, qualifier = call.target()
        config = self.platform.get_function(name, qualifier)
        version = qualifier or LATEST
        path = f"/2015-03-31/functions/{name}/code"
        url = f"{call.base_url}{path}?Qualifier={quote(version, safe='')}"
        if call.url_signer is not None:
            expires = int(time.time()) + CODE_URL_TTL_S
            token = call.url_signer(f"{path}?Qualifier={version}", expires)
            url += f"&X-Nblambda-Expires={expires}&X-Nblambda-Signature={token}"
        result = {"Configuration": self.shape(config, qualifier),
                  "Code": {"RepositoryType": "S3", "Location": url}}
        reserved = self.platform.get_function_concurrency(name)
        if reserved is not None:
            result["Concurrency"] = {"ReservedConcurrentExecutions": reserved}
        return 200, result

    def download_code(self, call: Call) -> Result:
        """GetFunction's Code.Location: the deployment package, rebuilt from the stored source."""
        name, qualifier = call.target()
        config = self.platform.get_function(name, qualifier)
        return 200, codezip.package(config.module, config.source)

    def get_function_configuration(self, call: Call) -> Result:
        name, qualifier = call.target()
        return 200, self.shape(self.platform.get_function(name, qualifier), qualifier)

    def list_functions(self, call: Call) -> Result:
        every_version = call.query.get("FunctionVersion") == "ALL"
        if call.query.get("FunctionVersion") not in (None, "ALL"):
            raise InvalidParameterValueException("FunctionVersion must be ALL")
        items = []
        for fn in self.platform.list_functions():
            versions = self.platform.list_versions(fn.name) if every_version else [fn]
            items += versions
        chunk, marker = shapes.page(
            items, lambda c: [c.name, 0 if c.version == LATEST else int(c.version)],
            call.query.get("Marker"), call.query.get("MaxItems"))
        result: dict[str, Any] = {
            "Functions": [self.shape(c, c.version if every_version else None) for c in chunk]}
        if marker:
            result["NextMarker"] = marker
        return 200, result

    def delete_function(self, call: Call) -> Result:
        name, qualifier = call.target()
        self.platform.delete_function(name, qualifier)
        return 204, None

    def update_function_code(self, call: Call) -> Result:
        name = call.unqualified()
        body = call.json()
        zip_bytes = _zip_bytes(body)
        with self._write_lock:
            current = self.platform.get_function(name)
            self._check_revision(body.get("RevisionId"), shapes.revision_id(current))
            source = codezip.module_source(zip_bytes, current.handler)
            if body.get("DryRun"):
                return 200, self.shape(current)
            config = self._redeploy(current, source=source, publish=bool(body.get("Publish")))
        return 200, self.shape(config, config.version if config.version != LATEST else None)

    def update_function_configuration(self, call: Call) -> Result:
        name = call.unqualified()
        body = call.json()
        _refuse_unsupported(body)
        _check_runtime(body.get("Runtime"))
        handler = body.get("Handler")
        if handler is not None:
            codezip.check_handler(handler)
        env = body.get("Environment")
        with self._write_lock:
            current = self.platform.get_function(name)
            self._check_revision(body.get("RevisionId"), shapes.revision_id(current))
            config = self._redeploy(
                current, handler=handler, memory=_int_field(body, "MemorySize"),
                timeout=_int_field(body, "Timeout"), description=body.get("Description"),
                environment=(env.get("Variables") or {}) if isinstance(env, dict) else None)
            if body.get("Role"):
                self.platform.store.set_setting(name, "role", body["Role"])
        return 200, self.shape(config)

    # -- versions ---------------------------------------------------------------------------------
    def publish_version(self, call: Call) -> Result:
        name = call.unqualified()
        body = call.json()
        current = self.platform.get_function(name)
        self._check_revision(body.get("RevisionId"), shapes.revision_id(current))
        sha = body.get("CodeSha256")
        if sha and sha != shapes.code_sha256(current):
            raise InvalidParameterValueException(
                f"CodeSHA256 ({sha}) is different from current CodeSHA256 in $LATEST "
                f"({shapes.code_sha256(current)}). Please try again.")
        config = self.platform.publish_version(name, body.get("Description") or "")
        return 201, self.shape(config, config.version)

    def list_versions_by_function(self, call: Call) -> Result:
        name = call.unqualified()
        chunk, marker = shapes.page(
            self.platform.list_versions(name),
            lambda c: 0 if c.version == LATEST else int(c.version),
            call.query.get("Marker"), call.query.get("MaxItems"))
        result: dict[str, Any] = {"Versions": [self.shape(c, c.version) for c in chunk]}
        if marker:
            result["NextMarker"] = marker
        return 200, result

    # -- aliases ----------------------------------------------------------------------------------
    def create_alias(self, call: Call) -> Result:
        name = call.unqualified()
        body = call.json()
        if not body.get("Name") or not body.get("FunctionVersion"):
            raise InvalidParameterValueException("Name and FunctionVersion are required")
        alias = self.platform.create_alias(name, body["Name"], str(body["FunctionVersion"]),
                                           body.get("Description") or "",
                                           shapes.routing_weights(body))
        return 201, shapes.alias_configuration(alias)

    def get_alias(self, call: Call) -> Result:
        return 200, shapes.alias_configuration(
            self.platform.get_alias(call.unqualified(), call.alias or ""))

    def update_alias(self, call: Call) -> Result:
        name = call.unqualified()
        body = call.json()
        with self._write_lock:
            current = self.platform.get_alias(name, call.alias or "")
            self._check_revision(body.get("RevisionId"), current.revision_id)
            version = body.get("FunctionVersion")
            alias = self.platform.update_alias(name, current.name,
                                               str(version) if version is not None else None,
                                               body.get("Description"),
                                               shapes.routing_weights(body))
        return 200, shapes.alias_configuration(alias)

    def list_aliases(self, call: Call) -> Result:
        aliases = self.platform.list_aliases(call.unqualified())
        version = call.query.get("FunctionVersion")
        if version:
            aliases = [a for a in aliases if a.function_version == version]
        chunk, marker = shapes.page(aliases, lambda a: a.name, call.query.get("Marker"),
                                    call.query.get("MaxItems"))
        result: dict[str, Any] = {"Aliases": [shapes.alias_configuration(a) for a in chunk]}
        if marker:
            result["NextMarker"] = marker
        return 200, result

    def delete_alias(self, call: Call) -> Result:
        self.platform.delete_alias(call.unqualified(), call.alias or "")
        return 204, None

    # -- concurrency ------------------------------------------------------------------------------
    def put_function_concurrency(self, call: Call) -> Result:
        reserved = _int_field(call.json(), "ReservedConcurrentExecutions")
        if reserved is None:
            raise InvalidParameterValueException("ReservedConcurrentExecutions is required")
        value = self.platform.put_function_concurrency(call.unqualified(), reserved)
        return 200, {"ReservedConcurrentExecutions": value}

    def get_function_concurrency(self, call: Call) -> Result:
        reserved = self.platform.get_function_concurrency(call.unqualified())
        return 200, {} if reserved is None else {"ReservedConcurrentExecutions": reserved}

    def delete_function_concurrency(self, call: Call) -> Result:
        self.platform.delete_function_concurrency(call.unqualified())
        return 204, None

    # -- asynchronous invocation configuration --------------------------------------------------------
    def _event_config_target(self, call: Call) -> str:
        name, qualifier = call.target()
        if qualifier not in (None, LATEST):
            raise UnsupportedFeature("nblambda keeps one asynchronous configuration per function: "
                                     "drop the Qualifier")
        if not hasattr(self.platform, "put_function_event_invoke_config"):
            raise UnsupportedFeature("This platform has no asynchronous invocation support")
        return name

    @staticmethod
    def _event_config_args(body: dict) -> dict:
        destinations = body.get("DestinationConfig") or {}
        return dict(maximum_retry_attempts=_int_field(body, "MaximumRetryAttempts"),
                    maximum_event_age_in_seconds=_int_field(body, "MaximumEventAgeInSeconds"),
                    on_success=(destinations.get("OnSuccess") or {}).get("Destination"),
                    on_failure=(destinations.get("OnFailure") or {}).get("Destination"))

    def put_function_event_invoke_config(self, call: Call) -> Result:
        """Put replaces the whole configuration: what the request omits returns to its default."""
        name = self._event_config_target(call)
        args = self._event_config_args(call.json())
        with self._write_lock:
            self.platform.delete_function_event_invoke_config(name)
            return 200, self.platform.put_function_event_invoke_config(name, **args)

    def update_function_event_invoke_config(self, call: Call) -> Result:
        """Update changes only what the request names."""
        name = self._event_config_target(call)
        args = self._event_config_args(call.json())
        return 200, self.platform.put_function_event_invoke_config(name, **args)

    def get_function_event_invoke_config(self, call: Call) -> Result:
        name = self._event_config_target(call)
        return 200, self.platform.get_function_event_invoke_config(name)

    def delete_function_event_invoke_config(self, call: Call) -> Result:
        name = self._event_config_target(call)
        self.platform.delete_function_event_invoke_config(name)
        return 204, None
