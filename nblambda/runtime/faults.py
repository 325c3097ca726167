"""Lambda's error objects and the ``[ERROR]`` log record, as awslambdaric builds them."""
import traceback

USER_CODE_SYNTAX_ERROR = "Runtime.UserCodeSyntaxError"
IMPORT_MODULE_ERROR = "Runtime.ImportModuleError"
HANDLER_NOT_FOUND = "Runtime.HandlerNotFound"
MALFORMED_HANDLER_NAME = "Runtime.MalformedHandlerName"
BUILT_IN_MODULE_CONFLICT = "Runtime.BuiltInModuleConflict"
MARSHAL_ERROR = "Runtime.MarshalError"
UNMARSHAL_ERROR = "Runtime.UnmarshalError"

_INDENT = "\u00a0"  # awslambdaric swaps leading spaces for NO-BREAK SPACE so log viewers keep them


class Fault(Exception):
    """An error the runtime itself reports, with its Lambda error type."""

    def __init__(self, error_type, message, trace=None):
        super().__init__(message)
        self.error_type = error_type
        self.message = message
        self.trace = trace


def make_error(message, error_type, stack_trace, request_id=None):
    return {
        "errorMessage": message if message else "",
        "errorType": error_type if error_type else "",
        "requestId": request_id if request_id is not None else "",
        "stackTrace": stack_trace if stack_trace else [],
    }


def user_frames(tb, runtime_dir):
    """The traceback without the runtime's own frames (awslambdaric drops its bootstrap frames)."""
    frames = traceback.extract_tb(tb)
    frames = [f for f in frames if not f.filename.startswith(runtime_dir)]
    # importlib's frames sit between the runtime and a failing module; AWS shows them, so keep them.
    return traceback.format_list(frames)


def error_from_exception(exc, runtime_dir, request_id=None):
    if isinstance(exc, Fault):
        return make_error(exc.message, exc.error_type, exc.trace, request_id)
    return make_error(str(exc), type(exc).__name__, user_frames(exc.__traceback__, runtime_dir),
                      request_id)


def error_log_lines(error):
    description = "[ERROR]"
    if error.get("errorType"):
        description += " " + error["errorType"]
    if error.get("errorMessage"):
        if error.get("errorType"):
            description += ":"
        description += " " + error["errorMessage"]
    lines = [description]
    stack = error.get("stackTrace")
    if stack is not None:
        lines.append("Traceback (most recent call last):")
        for element in stack:
            if element == "":
                lines.append("")
                continue
            for line in element.splitlines():
                stripped = line.lstrip(" ")
                lines.append(_INDENT * (len(line) - len(stripped)) + stripped)
    return lines
