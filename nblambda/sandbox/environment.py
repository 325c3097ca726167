"""The init message of a sandbox: Lambda's reserved environment variables plus the function's own."""
from __future__ import annotations

import os
import time
import uuid

from ..models import REGION, FunctionConfig

# Passed through from the host so the sandbox's interpreter and C libraries behave, as Lambda
# sets PATH, LANG and LD_LIBRARY_PATH for its runtimes.
_PASS_THROUGH = ("PATH", "LANG", "LC_ALL", "LD_LIBRARY_PATH", "PYTHONHOME", "SSL_CERT_FILE")


def log_stream_name(version: str, now: float | None = None) -> str:
    day = time.strftime("%Y/%m/%d", time.gmtime(time.time() if now is None else now))
    return f"{day}/[{version}]{uuid.uuid4().hex}"


def lambda_environment(config: FunctionConfig, *, task_root: str, runtime_dir: str,
                       python_version: tuple[int, int], log_stream: str,
                       host_env: dict[str, str] | None = None) -> dict[str, str]:
    host_env = os.environ if host_env is None else host_env
    env = {k: host_env[k] for k in _PASS_THROUGH if k in host_env}
    env.setdefault("LANG", "en_US.UTF-8")
    env.update(config.environment)
    env.update({
        "AWS_LAMBDA_FUNCTION_NAME": config.name,
        "AWS_LAMBDA_FUNCTION_VERSION": config.version,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(config.memory),
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{config.name}",
        "AWS_LAMBDA_LOG_STREAM_NAME": log_stream,
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_EXECUTION_ENV": "AWS_Lambda_python%d.%d" % python_version,
        "LAMBDA_TASK_ROOT": task_root,
        "LAMBDA_RUNTIME_DIR": runtime_dir,
        "_HANDLER": config.handler,
        "TZ": ":UTC",
    })
    return env


def init_message(config: FunctionConfig, *, task_root: str, runtime_dir: str,
                 python_version: tuple[int, int], paths: list[str] | None = None) -> dict:
    env = lambda_environment(config, task_root=task_root, runtime_dir=runtime_dir,
                             python_version=python_version,
                             log_stream=log_stream_name(config.version))
    return {"t": "init", "handler": config.handler, "task_root": task_root, "env": env,
            "paths": paths or []}
