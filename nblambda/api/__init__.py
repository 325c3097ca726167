"""nblambda's HTTP face: Lambda's REST API for boto3 and the AWS CLI, and API Gateway-style HTTP
routes to functions (payload format 2.0).

    from nblambda.api import Server
    server = Server(platform, port=9001).start()   # http://127.0.0.1:9001
    boto3.client("lambda", endpoint_url=server.endpoint, ...)
    server.stop()

Modules: ``app`` (the ASGI app and request plumbing), ``lambda_rest`` and ``invoke`` (the Lambda
operations), ``shapes`` (their JSON), ``codezip`` (deployment packages), ``sigv4`` (signature
checks), ``routes`` and ``payload_v2`` (HTTP routes), ``server`` (uvicorn).
"""
from .app import create_app
from .server import DEFAULT_HOST, DEFAULT_PORT, Server
from .sigv4 import Credentials

__all__ = ["create_app", "Server", "Credentials", "DEFAULT_HOST", "DEFAULT_PORT"]
