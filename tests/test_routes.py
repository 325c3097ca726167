"""HTTP routes as API Gateway HTTP APIs serve them (payload format 2.0), called with urllib."""
import base64
import json

import pytest

from apiserver import http, platform, server, src  # noqa: F401 (fixtures)
from nblambda import Platform
from nblambda.api.routes import Route, RouteTable
from nblambda.errors import InvalidParameterValueException, ResourceNotFoundException

PNG = bytes([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0xFF, 0x10, 0x80])


@pytest.fixture(scope="module", autouse=True)
def routes(platform):
    platform.deploy("mirror", "def handler(event, context):\n    return event\n")
    platform.deploy("custom", src("""
        import base64, json

        def handler(event, context):
            kind = event["pathParameters"]["kind"]
            if kind == "png":
                return {"statusCode": 200, "headers": {"Content-Type": "image/png"},
                        "isBase64Encoded": True, "body": event["queryStringParameters"]["b64"]}
            if kind == "created":
                return {"statusCode": 201, "headers": {"X-Custom": "yes", "X-Number": 7},
                        "cookies": ["a=1; Path=/", "b=2"], "body": json.dumps({"id": 42})}
            if kind == "text":
                return "plain string"
            if kind == "list":
                return [1, 2, 3]
            if kind == "upload":
                return {"statusCode": 200, "body": event["body"],
                        "isBase64Encoded": event["isBase64Encoded"],
                        "headers": {"content-type": "application/octet-stream"}}
            if kind == "bad-status":
                return {"statusCode": "teapot"}
            if kind == "boom":
                raise RuntimeError("exploded")
            return {"statusCode": 204}
    """))
    platform.add_route("ANY /mirror/{proxy+}", "mirror")
    platform.add_route("GET /items/{id}", "mirror")
    platform.add_route("GET /items/special", "mirror")  # literal beats {id}
    platform.add_route("POST /items/{id}", "mirror")
    platform.add_route("ANY /kinds/{kind}", "custom")
    platform.add_route("GET /kinds/{kind}", "custom")


def get(server, path, **kwargs):
    status, headers, body = http(kwargs.pop("method", "GET"), server.endpoint + path, **kwargs)
    return status, headers, body


def test_event_has_path_parameters_query_headers_and_context(server):
    status, headers, body = get(server, "/items/a%20b?color=red&color=blue&size=10&empty=",
                                headers={"X-Trace": "t1", "User-Agent": "tester/1.0",
                                         "Cookie": "session=abc; theme=dark"})
    assert status == 200 and headers["content-type"] == "application/json"
    event = json.loads(body)
    assert event["version"] == "2.0" and event["routeKey"] == "GET /items/{id}"
    assert event["rawPath"] == "/items/a%20b"
    assert event["rawQueryString"] == "color=red&color=blue&size=10&empty="
    assert event["pathParameters"] == {"id": "a b"}
    assert event["queryStringParameters"] == {"color": "red,blue", "size": "10", "empty": ""}
    assert event["headers"]["x-trace"] == "t1" and "cookie" not in event["headers"]
    assert all(k == k.lower() for k in event["headers"])
    assert event["cookies"] == ["session=abc", "theme=dark"]
    context = event["requestContext"]
    assert context["http"] == {"method": "GET", "path": "/items/a b", "protocol": "HTTP/1.1",
                               "sourceIp": "127.0.0.1", "userAgent": "tester/1.0"}
    assert context["stage"] == "$default" and context["routeKey"] == "GET /items/{id}"
    assert context["requestId"] and context["accountId"] == "000000000000"
    assert isinstance(context["timeEpoch"], int) and "/" in context["time"]
    assert event["isBase64Encoded"] is False and "body" not in event
    assert headers["apigw-requestid"] == context["requestId"]


def test_empty_collections_are_left_out(server):
    event = json.loads(get(server, "/mirror/x")[2])
    for key in ("queryStringParameters", "cookies", "body"):
        assert key not in event
    assert event["pathParameters"] == {"proxy": "x"}


def test_text_body_is_passed_as_text_and_binary_as_base64(server):
    event = json.loads(get(server, "/items/7", method="POST", body=b'{"name": "widget"}',
                           headers={"Content-Type": "application/json"})[2])
    assert event["body"] == '{"name": "widget"}' and event["isBase64Encoded"] is False
    event = json.loads(get(server, "/items/7", method="POST", body=PNG,
                           headers={"Content-Type": "image/png"})[2])
    assert event["isBase64Encoded"] is True and base64.b64decode(event["body"]) == PNG


def test_binary_response_is_decoded_from_base64(server):
    b64 = base64.b64encode(PNG).decode()
    status, headers, body = get(server, f"/kinds/png?b64={b64.replace('+', '%2B')}")
    assert status == 200 and headers["content-type"] == "image/png" and body == PNG


def test_binary_round_trip(server):
    status, _, body = get(server, "/kinds/upload", method="POST", body=PNG,
                          headers={"Content-Type": "application/octet-stream"})
    assert status == 200 and body == PNG


def test_structured_response_status_headers_and_cookies(server):
    status, headers, body = get(server, "/kinds/created")
    assert status == 201 and json.loads(body) == {"id": 42}
    assert headers["x-custom"] == "yes" and headers["x-number"] == "7"
    assert headers.get_all("set-cookie") == ["a=1; Path=/", "b=2"]
    assert get(server, "/kinds/empty")[0] == 204


def test_plain_values_are_json_bodies_with_200(server):
    status, headers, body = get(server, "/kinds/text")
    assert (status, body) == (200, b"plain string")
    assert headers["content-type"] == "application/json"
    assert get(server, "/kinds/list")[2] == b"[1, 2, 3]"


def test_function_error_is_502_internal_server_error(server):
    status, _, body = get(server, "/kinds/boom")
    assert status == 502 and json.loads(body) == {"message": "Internal Server Error"}
    status, _, body = get(server, "/kinds/bad-status")
    assert status == 502 and json.loads(body) == {"message": "Internal Server Error"}


def test_unknown_route_is_404_not_found(server):
    status, _, body = get(server, "/nothing/here")
    assert status == 404 and json.loads(body) == {"message": "Not Found"}
    assert get(server, "/items/7", method="DELETE")[0] == 404  # no DELETE route, no ANY


def test_most_specific_route_wins(server):
    assert json.loads(get(server, "/items/special")[2])["routeKey"] == "GET /items/special"
    assert json.loads(get(server, "/items/other")[2])["routeKey"] == "GET /items/{id}"
    # the GET route beats ANY for GET; ANY still serves other methods
    assert get(server, "/kinds/created")[0] == 201
    assert get(server, "/kinds/created", method="PUT", body=b"")[0] == 201
    event = json.loads(get(server, "/mirror/a/b/c.txt")[2])
    assert event["pathParameters"] == {"proxy": "a/b/c.txt"}
    assert event["routeKey"] == "ANY /mirror/{proxy+}"


def test_trailing_slash_is_ignored(server):
    assert json.loads(get(server, "/items/9/")[2])["pathParameters"] == {"id": "9"}


def test_default_route_catches_the_rest(server, platform):
    platform.add_route("$default", "mirror")
    try:
        event = json.loads(get(server, "/whatever/else")[2])
        assert event["routeKey"] == "$default" and "pathParameters" not in event
    finally:
        platform.remove_route("$default")
    assert get(server, "/whatever/else")[0] == 404


def test_route_to_a_deleted_function_is_500(server, platform):
    platform.deploy("ephemeral", "def handler(e, c):\n    return 1\n")
    platform.add_route("GET /ephemeral", "ephemeral")
    assert get(server, "/ephemeral")[0] == 200
    platform.delete_function("ephemeral")
    status, _, body = get(server, "/ephemeral")
    assert status == 500 and json.loads(body) == {"message": "Internal Server Error"}


def test_route_to_an_alias(server, platform):
    platform.deploy("versioned-route", "def handler(e, c):\n    return c.function_version\n",
                    publish=True)
    platform.deploy("versioned-route", "def handler(e, c):\n    return 'latest'\n")
    platform.create_alias("versioned-route", "live", "1")
    platform.add_route("GET /live", "versioned-route:live")
    assert get(server, "/live")[2] == b"1"


def test_lambda_api_paths_never_reach_routes(server, platform):
    status, headers, _ = get(server, "/2015-03-31/functions/mirror/unknown")
    assert status == 404 and headers["x-amzn-errortype"] == "UnknownOperationException"


def test_routes_persist_across_platforms(platform):
    with Platform(platform.home) as again:
        keys = {r["route_key"] for r in again.list_routes()}
    assert {"GET /items/{id}", "ANY /mirror/{proxy+}"} <= keys


@pytest.mark.parametrize("key", ["GET items", "FETCH /x", "GET /a/../b", "GET /a//b",
                                 "GET /{p+}/more", "GET /2015-03-31/functions", "GET /x/"])
def test_invalid_route_keys_are_refused(platform, key):
    with pytest.raises(InvalidParameterValueException, match="Invalid route key"):
        platform.add_route(key, "mirror")


def test_route_management(platform):
    with pytest.raises(ResourceNotFoundException):
        platform.add_route("GET /ghost", "no-such-function")
    route = platform.add_route("get /managed", "mirror")
    assert route == {"route_key": "GET /managed", "function": "mirror", "qualifier": None}
    assert route in platform.list_routes()
    platform.remove_route("GET /managed")
    with pytest.raises(ResourceNotFoundException):
        platform.remove_route("GET /managed")


def test_route_table_precedence():
    table = RouteTable([Route("ANY /{proxy+}", "greedy"), Route("GET /a/{x}", "param"),
                        Route("GET /a/b", "exact"), Route("ANY /a/b", "any-exact"),
                        Route("GET /{x}/b", "late-param")])
    assert table.match("GET", "/a/b")[0].function == "exact"
    assert table.match("POST", "/a/b")[0].function == "any-exact"
    assert table.match("GET", "/a/c")[0].function == "param"
    assert table.match("GET", "/z/b")[0].function == "late-param"
    assert table.match("GET", "/z/y/x")[0].function == "greedy"
    assert table.match("GET", "/") is None
