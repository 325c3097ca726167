"""The ``nblambda`` command: the magics' subcommands for terminals.

    nblambda list
    nblambda deploy NAME FILE.py [--memory MB] [--timeout S] [--env K=V ...] [--handler FUNC]
    nblambda invoke NAME [--payload JSON | --payload @file.json] [--qualifier Q]
                    [--invocation-type RequestResponse|Event|DryRun]
    nblambda logs NAME [-n N] [--follow]
    nblambda serve [--host 127.0.0.1] [--port 9001] [--home DIR] [--access-key K --secret-key S]
    nblambda describe NAME
    nblambda delete NAME
    nblambda image build [--tag TAG] [--suite SUITE] [--dry-run]
"""
from __future__ import annotations

import argparse
import json
import signal
import sys
import time
from pathlib import Path

from . import validation
from .errors import LambdaError
from .platform import Platform


def _env_pair(pair: str) -> tuple[str, str]:
    """argparse type of --env: a refusal becomes argparse's usage error, not a traceback."""
    key, sep, value = pair.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"--env takes KEY=VALUE, got {pair!r}")
    return key, value


def _port(text: str) -> int:
    """argparse type of --port: 0 is allowed because Server reports the port it really bound."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid port {text!r}: not a number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: must be 0-65535 (0: a free one)")
    return port


def _count(text: str) -> int:
    """argparse type of logs -n: the store's SQL LIMIT would silently read a negative count as
    "everything" and 0 as "nothing"."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"invalid count {text!r}: not a number") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"invalid count {n}: must be 1 or more")
    return n


def _payload(text: str | None) -> bytes:
    if text is None:
        return b"{}"
    if text.startswith("@"):
        return Path(text[1:]).read_bytes()
    return text.encode()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="nblambda", description="AWS Lambda, locally.")
    parser.add_argument("--home", help="state folder (default: $NBLAMBDA_HOME or ~/.nblambda)")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list functions")
    deploy = sub.add_parser("deploy", help="deploy a Python file as a function")
    deploy.add_argument("name")
    deploy.add_argument("file")
    deploy.add_argument("--memory", type=int, default=128)
    deploy.add_argument("--timeout", type=int, default=3)
    deploy.add_argument("--handler", default="handler")
    deploy.add_argument("--env", action="append", default=[], metavar="KEY=VALUE", type=_env_pair)
    deploy.add_argument("--backend", default=None, help="process (default) or docker")
    deploy.add_argument("--requirements", default=None, metavar="'PKG==V ...'",
                        help="dependencies, installed once into a shared layer")
    deploy.add_argument("--publish", action="store_true", help="also publish a new version")
    invoke = sub.add_parser("invoke", help="invoke a function and print its response")
    invoke.add_argument("name")
    invoke.add_argument("--payload", help="JSON event, or @file")
    invoke.add_argument("--log", action="store_true", help="print the invocation's log to stderr")
    invoke.add_argument("--qualifier", help="version or alias to invoke (same as NAME:Q)")
    invoke.add_argument("--invocation-type", default="RequestResponse",
                        choices=("RequestResponse", "Event", "DryRun"),
                        help="RequestResponse (default) prints the response; Event queues it, "
                             "prints the status as JSON and returns once it has run (here or in a "
                             "server on the same home); DryRun only validates")
    logs = sub.add_parser("logs", help="print recent invocation logs")
    logs.add_argument("name")
    logs.add_argument("-n", type=_count, default=10, help="how many invocations")
    logs.add_argument("--follow", "-f", action="store_true",
                      help="keep printing the logs of new invocations as they finish (Ctrl-C stops)")
    serve = sub.add_parser("serve", help="serve the Lambda API (boto3, AWS CLI) and HTTP routes")
    serve.add_argument("--host", default="127.0.0.1",
                       help="address to bind (default 127.0.0.1; any other needs a key pair)")
    serve.add_argument("--port", type=_port, default=9001, help="port (default 9001; 0: a free one)")
    serve.add_argument("--home", default=argparse.SUPPRESS, help="state folder")
    serve.add_argument("--access-key", help="require SigV4 signatures for this access key "
                                            "(or set $NBLAMBDA_ACCESS_KEY_ID)")
    serve.add_argument("--secret-key", help="... and this secret key ($NBLAMBDA_SECRET_ACCESS_KEY)")
    for name, text in (("describe", "show a function's configuration"), ("delete", "delete a function")):
        sub.add_parser(name, help=text).add_argument("name")
    image = sub.add_parser("image", help="the docker backend's base image")
    image_sub = image.add_subparsers(dest="image_command", required=True)
    build = image_sub.add_parser("build", help="build nblambda/python:X.Y offline (debootstrap + "
                                               "docker import; root and a running engine needed)")
    build.add_argument("--tag", help="image tag (default nblambda/python:<this Python's X.Y>)")
    build.add_argument("--suite", help="Debian release (default: the one shipping this Python)")
    build.add_argument("--dry-run", action="store_true", help="print the command, build nothing")
    return parser


def image_command(args: argparse.Namespace, out) -> int:
    from .images import build

    try:
        cmd, env = build.build_command(args.tag, suite=args.suite)
    except ValueError as exc:
        print(f"nblambda: {exc}", file=sys.stderr)
        return 2
    print(f"NBLAMBDA_DEBIAN_SUITE={env['NBLAMBDA_DEBIAN_SUITE']} {' '.join(cmd)}", file=out,
          flush=True)
    return 0 if args.dry_run else build.build(args.tag, suite=args.suite)


def run(args: argparse.Namespace, out=sys.stdout) -> int:
    if args.command == "image":  # needs no platform state
        return image_command(args, out)
    with Platform(args.home) as platform:
        if args.command == "list":
            for fn in platform.list_functions():
                print(f"{fn.name}\t{fn.runtime}\t{fn.memory} MB\t{fn.timeout} s\t{fn.handler}", file=out)
        elif args.command == "deploy":
            source = Path(args.file).read_text()
            fn = platform.deploy(args.name, source, args.handler, memory=args.memory,
                                 timeout=args.timeout, environment=dict(args.env),
                                 backend=args.backend, requirements=args.requirements,
                                 publish=args.publish)
            print(f"deployed {fn.name} ({fn.code_hash[:12]})", file=out)
        elif args.command == "invoke":
            payload = validation.check_json(_payload(args.payload))  # as Lambda's front end
            r = platform.invoke(args.name, payload=payload,
                                qualifier=args.qualifier, invocation_type=args.invocation_type)
            if args.invocation_type == "Event":  # the request id finds its logs
                print(json.dumps({"StatusCode": r.status_code, "RequestId": r.request_id}), file=out,
                      flush=True)
                # This process is about to exit: stay until the event has run once, here or in a
                # server on the same home; leaving earlier would cut its run short.
                config, _ = platform.registry.resolve(args.name, args.qualifier)
                platform.wait_for_event(r.request_id, timeout=config.timeout + 30)
                return 0
            if args.invocation_type == "DryRun":
                print(json.dumps({"StatusCode": r.status_code}), file=out)
                return 0
            if args.log:
                print(r.logs, file=sys.stderr, end="")
            out.write(r.response_bytes.decode("utf-8", "replace") + "\n")
            return 0 if r.ok else 1
        elif args.command == "logs":
            if args.follow:
                return follow_logs(platform, args.name, args.n, out)
            print(platform.logs(args.name, args.n), file=out, end="")
        elif args.command == "serve":
            return serve(platform, args, out)
        elif args.command == "describe":
            fn = platform.get_function(args.name)
            data = fn.to_dict()
            data["arn"] = fn.arn
            print(json.dumps(data, indent=2), file=out)
        elif args.command == "delete":
            platform.delete_function(args.name)
            print(f"deleted {args.name}", file=out)
    return 0


def follow_logs(platform: Platform, name: str, n: int, out, interval: float = 0.5) -> int:
    """Print the last ``n`` invocations' logs, then each new invocation's log as it is recorded
    (by this or any other process on the same home), until Ctrl-C."""
    seen: dict[tuple, None] = {}

    def show(results) -> None:
        for r in reversed(results):
            key = (r.request_id, r.started_at)  # an async retry keeps its request id
            if key not in seen:
                seen[key] = None
                out.write(r.logs)
        out.flush()
        while len(seen) > 10_000:
            seen.pop(next(iter(seen)))

    show(platform.invocations(name, n))
    try:
        while True:
            time.sleep(interval)
            show(platform.invocations(name, 100))
    except KeyboardInterrupt:
        return 130


def serve(platform: Platform, args: argparse.Namespace, out) -> int:
    from .api import Credentials, Server
    from .errors import InvalidParameterValueException

    if (args.access_key is None) != (args.secret_key is None):
        raise InvalidParameterValueException("--access-key and --secret-key go together")
    try:
        credentials = (Credentials(args.access_key, args.secret_key) if args.access_key
                       else Credentials.from_env())
    except ValueError as exc:
        raise InvalidParameterValueException(str(exc)) from None
    server = Server(platform, args.host, args.port, credentials)
    auth = "SigV4 required" if credentials else "no authentication (loopback only)"
    print(f"nblambda: serving {server.endpoint} ({auth}; home {platform.home}). Ctrl-C stops.",
          file=out, flush=True)
    # uvicorn shuts down gracefully on SIGINT/SIGTERM, then re-raises the signal: turn both into
    # exceptions so the platform closes (sandboxes stop) and the exit status is the shell's 130/143.
    def terminated(signum, frame):
        raise SystemExit(143)

    previous = signal.signal(signal.SIGTERM, terminated)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        return 130
    finally:
        signal.signal(signal.SIGTERM, previous)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run(args)
    except LambdaError as exc:
        print(f"nblambda: {exc.code}: {exc.message}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"nblambda: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
