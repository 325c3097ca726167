"""The sandbox's main loop: init once, then serve one invocation at a time (Lambda's execution model)."""
import importlib
import logging
import os
import resource
import socket
import sys
import time

from . import faults, marshal
from .context import LambdaContext
from .logcapture import capture_output, flush_output
from .protocol import Channel, ChannelClosed

RUNTIME_DIR = os.path.dirname(os.path.abspath(__file__))
_ALL_CPUS = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
_request_id = ""


class _RequestIdFilter(logging.Filter):
    def filter(self, record):
        record.aws_request_id = _request_id
        return True


class _LambdaLoggerHandler(logging.Handler):
    def emit(self, record):
        sys.stdout.write(self.format(record))


def _setup_logging():
    # The root logger's handler and format of awslambdaric (text format); the level stays Python's
    # default (WARNING) unless the user's code changes it, as in Lambda.
    logging.Formatter.converter = time.gmtime
    handler = _LambdaLoggerHandler()
    handler.setFormatter(logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s\n",
        "%Y-%m-%dT%H:%M:%S"))
    handler.addFilter(_RequestIdFilter())
    logging.getLogger().addHandler(handler)


def max_rss_mb():
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 + 0.5)


def load_handler(handler):
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as exc:
        raise faults.Fault(faults.MALFORMED_HANDLER_NAME, "Bad handler '%s': %s" % (handler, exc))
    if modname.split(".")[0] in sys.builtin_module_names:
        raise faults.Fault(faults.BUILT_IN_MODULE_CONFLICT,
                           "Cannot use built-in module %s as a handler module" % modname)
    try:
        module = importlib.import_module(modname.replace("/", "."))
    except ImportError as exc:
        raise faults.Fault(faults.IMPORT_MODULE_ERROR,
                           "Unable to import module '%s': %s" % (modname, exc))
    except SyntaxError as exc:
        trace = ['  File "%s" Line %s\n    %s' % (exc.filename, exc.lineno, exc.text)]
        raise faults.Fault(faults.USER_CODE_SYNTAX_ERROR,
                           "Syntax error in module '%s': %s" % (modname, exc), trace)
    try:
        return getattr(module, fname)
    except AttributeError:
        raise faults.Fault(faults.HANDLER_NOT_FOUND,
                           "Handler '%s' missing on module '%s'" % (fname, modname))


def _apply_init(header):
    os.environ.clear()
    os.environ.update(header["env"])
    if hasattr(time, "tzset"):
        time.tzset()
    task_root = header["task_root"]
    os.chdir(task_root)
    sys.path[:0] = [task_root] + list(header.get("paths", []))
    importlib.invalidate_caches()


class Sandbox:
    def __init__(self, channel):
        self.channel = channel
        self.handler = None
        self.env = {}

    def send(self, header, body=b""):
        flush_output()
        self.channel.send(header, body)

    def init(self, header):
        started = time.perf_counter()
        _apply_init(header)
        self.env = dict(header["env"])
        capture_output(self.channel)
        _setup_logging()
        try:
            self.handler = load_handler(header["handler"])
        except Exception as exc:
            error = faults.error_from_exception(exc, RUNTIME_DIR)
            print("\n".join(faults.error_log_lines(error)))
            self.send({"t": "init_error", "mem": max_rss_mb()}, marshal.json.dumps(error).encode())
            return False
        self.send({"t": "init_ok", "ms": (time.perf_counter() - started) * 1000.0,
                   "mem": max_rss_mb()})
        return True

    def invoke(self, header, body):
        global _request_id
        if header.get("unpin") and _ALL_CPUS:
            # the host steered this wake-up to its own CPU; the handler gets every CPU again
            os.sched_setaffinity(0, _ALL_CPUS)
        request_id = _request_id = header["id"]
        try:
            # The init message's environment: reading os.environ per invoke costs more than the
            # rest of a no-op invocation, and these variables are fixed for a sandbox's life.
            context = LambdaContext(request_id, header.get("cc"), header.get("ci"),
                                    header["deadline_ms"], header.get("arn"), environ=self.env)
            event = marshal.decode_event(body) if header.get("json", True) else body
            response = self.handler(event, context)
            result, content_type = marshal.encode_result(response)
        except Exception as exc:
            if isinstance(exc, marshal.UnmarshalError):
                exc = faults.Fault(faults.UNMARSHAL_ERROR, str(exc))
            elif isinstance(exc, marshal.MarshalError):
                exc = faults.Fault(faults.MARSHAL_ERROR, str(exc))
            error = faults.error_from_exception(exc, RUNTIME_DIR, request_id)
            try:
                sys.stdout.write("\n".join(faults.error_log_lines(error)) + "\n")
            except Exception:
                pass
            self.send({"t": "error", "mem": max_rss_mb()}, marshal.json.dumps(error).encode())
            return
        finally:
            _request_id = ""
        self.send({"t": "result", "ct": content_type, "mem": max_rss_mb()}, result)

    def serve(self):
        header, _ = self.channel.recv()
        if header.get("t") != "init" or not self.init(header):
            return 1
        while True:
            try:
                header, body = self.channel.recv()
            except ChannelClosed:
                return 0
            if header.get("t") == "invoke":
                self.invoke(header, body)


def run(sock):
    status = 1
    try:
        status = Sandbox(Channel(sock)).serve()
    except ChannelClosed:
        status = 0
    except SystemExit as exc:
        # sys.exit() in user code is not caught by Lambda's runtime either: the process ends with
        # that status, and Lambda reports it.
        if exc.code is None or isinstance(exc.code, int):
            status = (exc.code or 0) & 0xFF
        else:
            sys.stderr.write("%s\n" % (exc.code,))
            status = 1
    finally:
        try:
            sys.stdout.flush()
        except Exception:
            pass
        os._exit(status)


def connect_and_run(path):
    """Container entry: the host listens on a socket in a bind-mounted folder."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.connect(path)
    run(sock)
