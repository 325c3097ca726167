"""nblambda: AWS Lambda, inside Jupyter.

    from nblambda import Platform
    p = Platform()
    p.deploy("echo", "def handler(event, context):\\n    return event\\n")
    p.invoke("echo", {"k": 1}).payload

In a notebook: ``%load_ext nblambda``, then ``%%lambda_function NAME`` on a cell.
"""
from .errors import (InvalidParameterValueException, InvalidRequestContentException, LambdaError,
                     RequestTooLargeException, ResourceConflictException,
                     ResourceNotFoundException, TooManyRequestsException)
from .models import FunctionConfig, InvocationResult
from .platform import Platform

__version__ = "0.1.0"
__all__ = ["Platform", "FunctionConfig", "InvocationResult", "LambdaError",
           "InvalidParameterValueException", "InvalidRequestContentException",
           "RequestTooLargeException",
           "ResourceConflictException", "ResourceNotFoundException", "TooManyRequestsException",
           "load_ipython_extension", "unload_ipython_extension"]


def load_ipython_extension(ipython) -> None:
    from .jupyter.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython) -> None:
    from .jupyter.magics import unload_ipython_extension as unload

    unload(ipython)
