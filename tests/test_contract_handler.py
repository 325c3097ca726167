"""The handler and context rows of LAMBDA_CONTRACT.md, one test per row."""
import json
import re

import pytest

from conftest import src

# The Lambda contract holds on every sandbox backend: each test runs once per backend.
pytestmark = pytest.mark.all_backends

ECHO = src("""
    def handler(event, context):
        return event
""")


@pytest.mark.parametrize("event", [{"k": 1}, [1, "two", None], "text", 42, 1.5, None, True])
def test_event_is_any_json_value_and_result_is_json(platform, event):
    platform.deploy("echo", ECHO)
    r = platform.invoke("echo", event)
    assert r.error is None
    assert r.payload == event
    assert json.loads(r.raw_payload) == event


def test_handler_named_module_function(platform):
    platform.deploy("named", src("""
        def main(event, context):
            return "main"
    """), handler="app.main")
    r = platform.invoke("named")
    assert r.payload == "main"
    assert platform.get_function("named").handler == "app.main"


def test_init_runs_once_and_globals_persist_across_warm_invokes(platform):
    platform.deploy("counter", src("""
        import os
        INITS = []
        INITS.append(1)
        calls = 0
        def handler(event, context):
            global calls
            calls += 1
            return {"inits": len(INITS), "calls": calls, "pid": os.getpid()}
    """))
    results = [platform.invoke("counter") for _ in range(3)]
    assert [r.payload["calls"] for r in results] == [1, 2, 3]
    assert all(r.payload["inits"] == 1 for r in results)
    assert len({r.payload["pid"] for r in results}) == 1
    assert [r.cold for r in results] == [True, False, False]


CONTEXT = src("""
    def handler(event, context):
        return {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "identity": [context.identity.cognito_identity_id,
                         context.identity.cognito_identity_pool_id],
            "client_context": None if context.client_context is None else {
                "custom": context.client_context.custom,
                "env": context.client_context.env,
                "app_title": context.client_context.client.app_title,
                "installation_id": context.client_context.client.installation_id,
            },
            "remaining": context.get_remaining_time_in_millis(),
            "remaining_type": type(context.get_remaining_time_in_millis()).__name__,
        }
""")


def test_context_object_attributes_and_types(platform):
    platform.deploy("ctx", CONTEXT, memory=256, timeout=7)
    r = platform.invoke("ctx")
    c = r.payload
    assert c["function_name"] == "ctx"
    assert c["function_version"] == "$LATEST"
    assert c["invoked_function_arn"] == "arn:aws:lambda:us-east-1:000000000000:function:ctx"
    assert c["memory_limit_in_mb"] == "256"  # a string, as in awslambdaric
    assert c["aws_request_id"] == r.request_id
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}",
                        r.request_id)
    assert c["log_group_name"] == "/aws/lambda/ctx"
    assert re.fullmatch(r"\d{4}/\d{2}/\d{2}/\[\$LATEST\][0-9a-f]{32}", c["log_stream_name"])
    assert c["identity"] == [None, None]
    assert c["client_context"] is None
    assert c["remaining_type"] == "int"
    assert 6000 < c["remaining"] <= 7000


def test_log_stream_is_one_per_sandbox(platform):
    platform.deploy("ctx", CONTEXT)
    first = platform.invoke("ctx").payload["log_stream_name"]
    assert platform.invoke("ctx").payload["log_stream_name"] == first


def test_client_context_and_identity_reach_the_handler(platform):
    platform.deploy("ctx", CONTEXT)
    r = platform.invoke("ctx", client_context={
        "client": {"installation_id": "inst-1", "app_title": "Notebook"},
        "custom": {"k": "v"}, "env": {"locale": "en"}},
        identity={"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool-1"})
    assert r.payload["client_context"] == {"custom": {"k": "v"}, "env": {"locale": "en"},
                                           "app_title": "Notebook", "installation_id": "inst-1"}
    assert r.payload["identity"] == ["id-1", "pool-1"]


def test_remaining_time_follows_an_injected_clock():
    from nblambda.runtime.context import LambdaContext

    now = [1000.0]
    ctx = LambdaContext("id", None, None, 1_003_000, clock=lambda: now[0])
    assert ctx.get_remaining_time_in_millis() == 3000
    now[0] = 1002.5
    assert ctx.get_remaining_time_in_millis() == 500
    now[0] = 1010.0
    assert ctx.get_remaining_time_in_millis() == 0


def test_context_log_writes_to_the_invocation_log(platform):
    platform.deploy("logger", src("""
        def handler(event, context):
            context.log("via context.log\\n")
            return 1
    """))
    r = platform.invoke("logger")
    assert "via context.log\n" in r.logs


def test_sandbox_environment_variables(platform):
    platform.deploy("env", src("""
        import os
        def handler(event, context):
            # checked inside the sandbox: its paths need not exist on the host (containers)
            return {"env": dict(os.environ), "files": [
                os.path.isfile(os.path.join(os.environ["LAMBDA_TASK_ROOT"], "lambda_function.py")),
                os.path.isfile(os.path.join(os.environ["LAMBDA_RUNTIME_DIR"], "bootstrap.py"))]}
    """), memory=512, environment={"GREETING": "hello", "EMPTY": ""})
    result = platform.invoke("env").payload
    env = result["env"]
    import sys

    py = "%d.%d" % sys.version_info[:2]
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "env"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "512"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/env"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"].startswith(
        __import__("time").strftime("%Y/%m/%d/[$LATEST]", __import__("time").gmtime()))
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "us-east-1"
    assert env["AWS_EXECUTION_ENV"] == f"AWS_Lambda_python{py}"
    assert env["_HANDLER"] == "lambda_function.handler"
    assert env["TZ"] == ":UTC"
    assert env["GREETING"] == "hello" and env["EMPTY"] == ""
    assert result["files"] == [True, True]  # the code at the task root, the runtime at its dir


def test_cwd_is_the_task_root_and_runtime_modules_are_not_importable(platform):
    platform.deploy("paths", src("""
        import os, sys
        def handler(event, context):
            try:
                import protocol  # the runtime's own module must not leak into user code
                leaked = True
            except ImportError:
                leaked = False
            return {"cwd": os.getcwd(), "root": os.environ["LAMBDA_TASK_ROOT"], "leaked": leaked,
                    "tz": __import__("time").tzname[0]}
    """))
    r = platform.invoke("paths").payload
    assert r["cwd"] == r["root"]
    assert r["leaked"] is False
    assert r["tz"] == "UTC"


def test_a_new_environment_starts_from_the_code_as_deployed(platform):
    # Lambda's /var/task is read-only: whatever a handler tries there, the next execution
    # environment of the same code (another function deployed from the same cell too) is intact.
    tamper = src("""
        import os
        def handler(event, context):
            for path, text in (("lambda_function.py", "\\nraise Exception('corrupted')\\n"),
                               ("json.py", "raise Exception('shadowed')\\n")):
                try:
                    with open(path, "a") as f:
                        f.write(text)
                except OSError:
                    pass  # refused, as on Lambda: nothing to undo
            return "tampered"
    """)
    platform.deploy("tamper", tamper)
    assert platform.invoke("tamper").payload == "tampered"
    platform.deploy("same_code", tamper)  # same code hash, a cold start
    r = platform.invoke("same_code")
    assert r.cold and r.payload == "tampered", r.error


@pytest.mark.backends("docker")
def test_a_container_gets_the_code_as_deployed_after_a_process_sandbox_changed_it(platform):
    # A container is given a copy of the code folder when it starts: the copy must be taken
    # from the folder as deployed, not as a process sandbox of the same code left it.
    platform.deploy("writer", src("""
        def handler(event, context):
            if event == "write":
                with open("lambda_function.py", "a") as f:
                    f.write("\\nraise Exception('corrupted')\\n")
            return "intact"
    """), backend="process")
    assert platform.invoke("writer", "write").payload == "intact"
    platform.deploy("reader", platform.get_function("writer").source)  # docker, same code
    r = platform.invoke("reader")
    assert r.cold and r.payload == "intact", r.error
