"""Lambda's function operations through boto3 against a real server: create, get, list, update,
delete, with AWS's response shapes and error classes."""
import base64
import io
import zipfile

import pytest
from botocore.exceptions import ParamValidationError

from apiserver import ROLE, client, http, lam, platform, server, src, zip_of  # noqa: F401 (fixtures)

ECHO = src("""
    def handler(event, context):
        return {"event": event, "version": context.function_version}
""")


def create(lam, name, code=ECHO, handler="lambda_function.handler", **extra):
    module = handler.rsplit(".", 1)[0].replace(".", "/") + ".py"
    return lam.create_function(FunctionName=name, Runtime="python3.11", Role=ROLE,
                               Handler=handler, Code={"ZipFile": zip_of({module: code})}, **extra)


def test_create_function_returns_the_configuration(lam, platform):
    r = create(lam, "created", MemorySize=256, Timeout=10, Description="from boto3",
               Environment={"Variables": {"STAGE": "test"}})
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert r["FunctionName"] == "created"
    assert r["FunctionArn"] == "arn:aws:lambda:us-east-1:000000000000:function:created"
    assert (r["MemorySize"], r["Timeout"], r["Description"]) == (256, 10, "from boto3")
    assert r["Environment"] == {"Variables": {"STAGE": "test"}}
    assert r["Handler"] == "lambda_function.handler" and r["Role"] == ROLE
    assert r["Version"] == "$LATEST" and r["State"] == "Active" and r["PackageType"] == "Zip"
    assert r["Runtime"].startswith("python3.") and r["CodeSize"] == len(ECHO)
    assert len(base64.b64decode(r["CodeSha256"])) == 32 and r["RevisionId"]
    config = platform.get_function("created")
    assert config.source == ECHO and config.memory == 256 and config.environment == {"STAGE": "test"}


def test_create_function_with_another_module_and_publish(lam, platform):
    r = create(lam, "app-main", src("def main(event, context):\n    return 'main'\n"),
               handler="app.main", Publish=True)
    assert r["Version"] == "1" and r["FunctionArn"].endswith(":app-main:1")
    assert lam.invoke(FunctionName="app-main")["Payload"].read() == b'"main"'
    assert platform.get_function("app-main").module == "app"


def test_functions_from_a_cell_and_from_the_api_are_the_same_objects(lam, platform):
    platform.deploy("from-cell", "def handler(event, context):\n    return 'cell'\n")
    assert lam.get_function_configuration(FunctionName="from-cell")["Handler"] == \
        "lambda_function.handler"
    assert lam.invoke(FunctionName="from-cell")["Payload"].read() == b'"cell"'
    create(lam, "from-api")
    assert platform.invoke("from-api", {"k": 1}).payload["event"] == {"k": 1}


def test_get_function_has_configuration_code_location_and_concurrency(lam, platform):
    create(lam, "getme")
    platform.put_function_concurrency("getme", 5)
    r = lam.get_function(FunctionName="getme")
    assert r["Configuration"]["FunctionName"] == "getme"
    assert r["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    assert r["Code"]["RepositoryType"] == "S3"
    status, _, body = http("GET", r["Code"]["Location"])
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(body)) as archive:
        assert archive.read("lambda_function.py").decode() == ECHO


def test_get_function_accepts_arns_and_qualifiers(lam):
    create(lam, "qualified")
    lam.publish_version(FunctionName="qualified")
    arn = "arn:aws:lambda:us-east-1:000000000000:function:qualified"
    assert lam.get_function(FunctionName=arn)["Configuration"]["FunctionName"] == "qualified"
    one = lam.get_function_configuration(FunctionName="qualified", Qualifier="1")
    assert one["Version"] == "1" and one["FunctionArn"] == arn + ":1"
    assert lam.get_function_configuration(FunctionName="qualified:1")["Version"] == "1"


def test_list_functions_paginates_with_marker(lam, platform):
    for i in range(5):
        platform.deploy(f"page-{i}", "def handler(e, c):\n    return 1\n")
    first = lam.list_functions(MaxItems=2)
    assert len(first["Functions"]) == 2 and "NextMarker" in first
    names = []
    for page in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 2}):
        assert len(page["Functions"]) <= 2
        names += [f["FunctionName"] for f in page["Functions"]]
    assert names == sorted(names) and len(names) == len(set(names))
    assert {f"page-{i}" for i in range(5)} <= set(names)
    assert set(names) == {f.name for f in platform.list_functions()}
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.list_functions(Marker="not-a-marker")


def test_list_functions_all_versions(lam):
    create(lam, "versioned-list")
    lam.publish_version(FunctionName="versioned-list")
    versions = [f["Version"] for f in lam.list_functions(FunctionVersion="ALL")["Functions"]
                if f["FunctionName"] == "versioned-list"]
    assert versions == ["$LATEST", "1"]


def test_update_function_code_keeps_the_configuration(lam, platform):
    create(lam, "updatable", MemorySize=512)
    old = lam.get_function_configuration(FunctionName="updatable")
    new_code = src("def handler(event, context):\n    return 'v2'\n")
    r = lam.update_function_code(FunctionName="updatable",
                                 ZipFile=zip_of({"lambda_function.py": new_code}))
    assert r["MemorySize"] == 512 and r["CodeSha256"] != old["CodeSha256"]
    assert r["RevisionId"] != old["RevisionId"]
    assert lam.invoke(FunctionName="updatable")["Payload"].read() == b'"v2"'
    published = lam.update_function_code(FunctionName="updatable", Publish=True,
                                         ZipFile=zip_of({"lambda_function.py": new_code + "\n"}))
    assert published["Version"] == "1"


def test_update_function_configuration(lam, platform):
    create(lam, "configurable")
    r = lam.update_function_configuration(FunctionName="configurable", MemorySize=1024,
                                          Timeout=30, Description="bigger",
                                          Environment={"Variables": {"AB": "1"}})
    assert (r["MemorySize"], r["Timeout"], r["Description"]) == (1024, 30, "bigger")
    config = platform.get_function("configurable")
    assert config.memory == 1024 and config.environment == {"AB": "1"} and config.source == ECHO
    r = lam.update_function_configuration(FunctionName="configurable", Timeout=5)
    assert r["MemorySize"] == 1024 and r["Environment"] == {"Variables": {"AB": "1"}}


def test_stale_revision_id_is_a_precondition_failure(lam):
    create(lam, "revisioned")
    stale = lam.get_function_configuration(FunctionName="revisioned")["RevisionId"]
    lam.update_function_configuration(FunctionName="revisioned", Timeout=9)
    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.update_function_configuration(FunctionName="revisioned", Timeout=8,
                                          RevisionId=stale)


def test_delete_function(lam, platform):
    create(lam, "doomed")
    r = lam.delete_function(FunctionName="doomed")
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="doomed")


def test_delete_a_version(lam):
    create(lam, "version-doomed")
    lam.publish_version(FunctionName="version-doomed")
    lam.delete_function(FunctionName="version-doomed", Qualifier="1")
    assert [v["Version"] for v in
            lam.list_versions_by_function(FunctionName="version-doomed")["Versions"]] == ["$LATEST"]


# -- errors, in AWS's shapes ----------------------------------------------------------------------
def test_unknown_function_is_resource_not_found(lam):
    with pytest.raises(lam.exceptions.ResourceNotFoundException) as info:
        lam.get_function(FunctionName="missing")
    error = info.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert error["Error"]["Message"] == \
        "Function not found: arn:aws:lambda:us-east-1:000000000000:function:missing"
    assert error["ResponseMetadata"]["HTTPHeaders"]["x-amzn-errortype"] == \
        "ResourceNotFoundException"


def test_creating_an_existing_function_is_a_conflict(lam):
    create(lam, "twice")
    with pytest.raises(lam.exceptions.ResourceConflictException) as info:
        create(lam, "twice")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 409
    assert "Function already exist: twice" in str(info.value)


@pytest.mark.parametrize("kwargs, message", [
    ({"MemorySize": 64}, "memorySize"),
    ({"Timeout": 901}, "timeout"),
    ({"Handler": "../../etc/evil.handler"}, "not valid for a Python function"),
    ({"Runtime": "nodejs20.x"}, "nblambda runs Python functions"),
    ({"Layers": ["arn:aws:lambda:us-east-1:000000000000:layer:x:1"]}, "does not emulate Layers"),
])
def test_invalid_parameters_are_refused_with_the_reason(server, kwargs, message):
    lam = client(server.endpoint, validate=False)  # let the server do the refusing
    args = dict(FunctionName="invalid", Runtime="python3.11", Role=ROLE,
                Handler="lambda_function.handler",
                Code={"ZipFile": zip_of({"lambda_function.py": ECHO})})
    args.update(kwargs)
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as info:
        lam.create_function(**args)
    assert message in str(info.value)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_invalid_function_name_is_refused(lam):
    with pytest.raises((lam.exceptions.InvalidParameterValueException, ParamValidationError)):
        lam.get_function(FunctionName="bad name!")
    # a name botocore lets through but Lambda's pattern refuses
    with pytest.raises(lam.exceptions.InvalidParameterValueException) as info:
        lam.get_function(FunctionName="a" * 65)
    assert "functionName" in str(info.value)


def test_zip_problems_are_explained(lam):
    def attempt(zip_bytes):
        with pytest.raises(lam.exceptions.InvalidParameterValueException) as info:
            lam.create_function(FunctionName="zippy", Runtime="python3.11", Role=ROLE,
                                Handler="lambda_function.handler", Code={"ZipFile": zip_bytes})
        return str(info.value)

    assert "Could not unzip uploaded file" in attempt(b"not a zip")
    assert "has no lambda_function.py" in attempt(zip_of({"other.py": ECHO}))
    message = attempt(zip_of({"lambda_function.py": ECHO, "helpers.py": "X = 1\n"}))
    assert "single-module functions" in message and "helpers.py" in message
    # folders, compiled files and empty package markers are fine
    create_ok = zip_of({"pkg/": "", "pkg/__init__.py": "", "pkg/mod.py": ECHO,
                        "pkg/__pycache__/mod.cpython-311.pyc": "x"})
    r = lam.create_function(FunctionName="zippy", Runtime="python3.11", Role=ROLE,
                            Handler="pkg.mod.handler", Code={"ZipFile": create_ok})
    assert r["Handler"] == "pkg.mod.handler"
    assert b'"event": {}' in lam.invoke(FunctionName="zippy")["Payload"].read()


def test_unknown_operation_paths_answer_in_lambda_shape(server):
    status, headers, body = http("GET", server.endpoint + "/2015-03-31/nothing-here")
    assert status == 404 and headers["x-amzn-errortype"] == "UnknownOperationException"
