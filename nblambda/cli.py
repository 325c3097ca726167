"""The ``nblambda`` command: the magics' subcommands for terminals.

    nblambda list
    nblambda deploy NAME FILE.py [--memory MB] [--timeout S] [--env K=V ...] [--handler FUNC]
    nblambda invoke NAME [--payload JSON | --payload @file.json]
    nblambda logs NAME [-n N]
    nblambda describe NAME
    nblambda delete NAME
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .errors import LambdaError
from .platform import Platform


def _env_pairs(pairs: list[str]) -> dict[str, str]:
    env = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise argparse.ArgumentTypeError(f"--env takes KEY=VALUE, got {pair!r}")
        env[key] = value
    return env


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
    deploy.add_argument("--env", action="append", default=[], metavar="KEY=VALUE")
    invoke = sub.add_parser("invoke", help="invoke a function and print its response")
    invoke.add_argument("name")
    invoke.add_argument("--payload", help="JSON event, or @file")
    invoke.add_argument("--log", action="store_true", help="print the invocation's log to stderr")
    logs = sub.add_parser("logs", help="print recent invocation logs")
    logs.add_argument("name")
    logs.add_argument("-n", type=int, default=10, help="how many invocations")
    for name, text in (("describe", "show a function's configuration"), ("delete", "delete a function")):
        sub.add_parser(name, help=text).add_argument("name")
    return parser


def run(args: argparse.Namespace, out=sys.stdout) -> int:
    with Platform(args.home) as platform:
        if args.command == "list":
            for fn in platform.list_functions():
                print(f"{fn.name}\t{fn.runtime}\t{fn.memory} MB\t{fn.timeout} s\t{fn.handler}", file=out)
        elif args.command == "deploy":
            source = Path(args.file).read_text()
            fn = platform.deploy(args.name, source, args.handler, memory=args.memory,
                                 timeout=args.timeout, environment=_env_pairs(args.env))
            print(f"deployed {fn.name} ({fn.code_hash[:12]})", file=out)
        elif args.command == "invoke":
            r = platform.invoke(args.name, payload=_payload(args.payload))
            if args.log:
                print(r.logs, file=sys.stderr, end="")
            out.write(r.response_bytes.decode("utf-8", "replace") + "\n")
            return 0 if r.ok else 1
        elif args.command == "logs":
            print(platform.logs(args.name, args.n), file=out, end="")
        elif args.command == "describe":
            fn = platform.get_function(args.name)
            data = fn.to_dict()
            data["arn"] = fn.arn
            print(json.dumps(data, indent=2), file=out)
        elif args.command == "delete":
            platform.delete_function(args.name)
            print(f"deleted {args.name}", file=out)
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
