"""Bad input gets a clear error in Lambda's shape, never a hang."""
import pytest

from nblambda import (InvalidParameterValueException, RequestTooLargeException,
                      ResourceNotFoundException)

CODE = "def handler(e, c):\n    return e\n"


@pytest.mark.parametrize("name", ["", "has space", "a" * 65, "slash/name", "dot.name", None, 5])
def test_invalid_function_names(platform, name):
    with pytest.raises(InvalidParameterValueException, match="functionName"):
        platform.deploy(name, CODE)


@pytest.mark.parametrize("memory", [64, 127, 10241, 128.5, "256", True])
def test_memory_out_of_range(platform, memory):
    with pytest.raises(InvalidParameterValueException, match="memorySize"):
        platform.deploy("f", CODE, memory=memory)


@pytest.mark.parametrize("timeout", [0, 901, 2.5, -1])
def test_timeout_out_of_range(platform, timeout):
    with pytest.raises(InvalidParameterValueException, match="timeout"):
        platform.deploy("f", CODE, timeout=timeout)


def test_limits_are_inclusive(platform):
    fn = platform.deploy("f", CODE, memory=10240, timeout=900)
    assert (fn.memory, fn.timeout) == (10240, 900)
    assert platform.deploy("g", CODE, memory=128, timeout=1).memory == 128


def test_environment_over_4kb(platform):
    with pytest.raises(InvalidParameterValueException, match="exceeded the 4KB limit"):
        platform.deploy("f", CODE, environment={"BIG": "x" * 4100})
    platform.deploy("f", CODE, environment={"FITS": "x" * 4000})


def test_reserved_environment_keys(platform):
    with pytest.raises(InvalidParameterValueException, match="Reserved keys used in this request: AWS_REGION"):
        platform.deploy("f", CODE, environment={"AWS_REGION": "eu-west-1"})


def test_payload_over_6mb(platform):
    platform.deploy("f", CODE)
    with pytest.raises(RequestTooLargeException) as err:
        platform.invoke("f", "x" * (6 * 1024 * 1024))
    assert err.value.code == "RequestTooLargeException" and err.value.status == 413


def test_unknown_function(platform):
    with pytest.raises(ResourceNotFoundException, match="function:nope") as err:
        platform.invoke("nope")
    assert err.value.status == 404
    with pytest.raises(ResourceNotFoundException):
        platform.delete_function("nope")


def test_event_that_is_not_json(platform):
    platform.deploy("f", CODE)
    with pytest.raises(InvalidParameterValueException, match="not JSON-serializable"):
        platform.invoke("f", {1, 2})


def test_unknown_backend(platform):
    with pytest.raises(InvalidParameterValueException, match="backend"):
        platform.deploy("f", CODE, backend="lambda-in-the-cloud")


def test_closed_platform_refuses_work(tmp_path):
    from nblambda import LambdaError, Platform

    p = Platform(tmp_path / "h")
    p.close()
    with pytest.raises(LambdaError, match="closed"):
        p.deploy("f", CODE)


def test_environment_key_pattern_is_aws_s(platform):
    # AWS's pattern [a-zA-Z]([a-zA-Z0-9_])+ needs two characters at least
    with pytest.raises(InvalidParameterValueException, match="must match"):
        platform.deploy("f", CODE, environment={"K": "1"})
    with pytest.raises(InvalidParameterValueException, match="must match"):
        platform.deploy("f", CODE, environment={"1KEY": "1"})


@pytest.mark.parametrize("handler", ["../../tmp/evil.handler", "a/b.handler", "mod.", ".handler",
                                     "1mod.handler", "mod.handler name"])
def test_handler_must_be_python_names(platform, handler, tmp_path):
    with pytest.raises(InvalidParameterValueException, match="Invalid handler"):
        platform.deploy("f", CODE, handler=handler)
    assert not (tmp_path / "evil.py").exists()


def test_dotted_handler_modules_are_allowed(platform):
    fn = platform.deploy("f", CODE, handler="pkg_mod.handler")
    assert fn.handler == "pkg_mod.handler" and platform.invoke("f", 3).payload == 3


def test_environment_values_must_be_strings_without_nul(platform):
    for env, words in (({"A1": None}, "must be strings: A1"), ({"AB": 5}, "must be strings: AB"),
                       ({"AB": "x\0y"}, "cannot contain a NUL character: AB")):
        with pytest.raises(InvalidParameterValueException, match=words):
            platform.deploy("env", "def handler(e, c):\n    pass\n", environment=env)


def test_an_invoke_without_an_event_delivers_an_empty_object(platform):
    platform.deploy("echo", "def handler(e, c):\n    return e\n")
    assert platform.invoke("echo").payload == {}
    assert platform.invoke("echo", payload=b"").payload == {}
    assert platform.invoke("echo", None).payload is None  # JSON null, asked for explicitly
