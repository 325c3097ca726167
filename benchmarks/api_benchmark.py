"""Round-trip cost of the Lambda API: boto3 ``invoke`` through ``nblambda serve`` next to the
in-process ``Platform.invoke``, measured in the same run on the same warm function.

    .venv/bin/python benchmarks/api_benchmark.py [--n 300] [--rounds 5]

Rows (p50 and p90 over all rounds; the paths are interleaved round by round so that load from
elsewhere on the machine hits them alike):
  in-process          Platform.invoke in this process (the floor: sandbox round trip)
  http.client -> API  a bare keep-alive HTTP POST to the server's Invoke path
  boto3 -> API        boto3's lambda client invoke through the server
  boto3 -> stub       boto3 against a stub that answers at once: what boto3 itself costs
Server overhead = (boto3 -> API) - (in-process): the issue's target is <= 2 ms at p50. The
server's own share excludes the client: (http.client -> API) - (in-process), and
(boto3 -> API) - (boto3 -> stub) - (in-process).
The server runs as ``nblambda serve`` in its own process, as clients meet it.
"""
from __future__ import annotations

import argparse
import http.client
import json
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import boto3  # noqa: E402
from botocore.config import Config  # noqa: E402

from nblambda import Platform  # noqa: E402

CODE = "def handler(event, context):\n    return {'echo': event}\n"
PAYLOAD = b'{"n": 1, "text": "benchmark"}'
STUB_RESPONSE = (b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                 b"X-Amz-Executed-Version: $LATEST\r\nContent-Length: 38\r\n\r\n"
                 b'{"echo": {"n": 1, "text": "benchmark"}}')


def stub_server() -> int:
    """A loopback server that answers every request with a canned Invoke response."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)

    def serve(conn: socket.socket) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        buffer = b""
        while True:
            data = conn.recv(65536)
            if not data:
                return
            buffer += data
            while b"\r\n\r\n" in buffer:
                head, rest = buffer.split(b"\r\n\r\n", 1)
                length = int(re.search(rb"(?i)content-length:\s*(\d+)", head + b"\r\n")
                             .group(1)) if b"ontent-" in head.lower() else 0
                while len(rest) < length:
                    rest += conn.recv(65536)
                buffer = rest[length:]
                conn.sendall(STUB_RESPONSE)

    def accept() -> None:
        while True:
            conn, _ = listener.accept()
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    return listener.getsockname()[1]


def start_api(home: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "nblambda.cli", "--home", str(home), "serve",
                             "--port", "0"], stdout=subprocess.PIPE, text=True, cwd=ROOT)
    line = proc.stdout.readline()
    match = re.search(r"serving (http://\S+)", line)
    if not match:
        proc.kill()
        raise SystemExit(f"nblambda serve did not start: {line!r}")
    return proc, match.group(1)


def lambda_client(endpoint: str):
    return boto3.client("lambda", endpoint_url=endpoint, region_name="us-east-1",
                        aws_access_key_id="bench", aws_secret_access_key="bench-secret",
                        config=Config(retries={"total_max_attempts": 1}))


def timed(fn, n: int) -> list[float]:
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def pct(samples: list[float], q: float) -> float:
    return statistics.quantiles(samples, n=100)[int(q) - 1] if q != 50 else \
        statistics.median(samples)


def run(n: int, rounds: int) -> dict[str, list[float]]:
    home = Path(tempfile.mkdtemp(prefix="nblambda-apibench-"))
    with Platform(home) as platform:
        platform.deploy("bench", CODE)
        proc, endpoint = start_api(home)
        try:
            api = lambda_client(endpoint)
            stub = lambda_client(f"http://127.0.0.1:{stub_server()}")
            port = int(endpoint.rsplit(":", 1)[1])
            conn = http.client.HTTPConnection("127.0.0.1", port)

            def raw() -> None:
                conn.request("POST", "/2015-03-31/functions/bench/invocations", body=PAYLOAD)
                response = conn.getresponse()
                assert response.status == 200, response.status
                response.read()

            paths = {
                "in-process": lambda: platform.invoke("bench", payload=PAYLOAD),
                "http.client -> API": raw,
                "boto3 -> API": lambda: api.invoke(FunctionName="bench",
                                                   Payload=PAYLOAD)["Payload"].read(),
                "boto3 -> stub": lambda: stub.invoke(FunctionName="bench",
                                                     Payload=PAYLOAD)["Payload"].read(),
            }
            assert json.loads(api.invoke(FunctionName="bench", Payload=PAYLOAD)["Payload"]
                              .read()) == {"echo": json.loads(PAYLOAD)}
            samples: dict[str, list[float]] = {name: [] for name in paths}
            for name, fn in paths.items():  # warm-up: sandboxes, connections, caches
                timed(fn, 30)
            for _ in range(rounds):
                for name, fn in paths.items():
                    samples[name] += timed(fn, n)
        finally:
            proc.terminate()
            proc.wait(15)
    return samples


def table(samples: dict[str, list[float]]) -> str:
    base = statistics.median(samples["in-process"])
    lines = [f"{'path':<20} {'p50 ms':>8} {'p90 ms':>8} {'p50 - in-process':>17}",
             "-" * 56]
    for name, values in samples.items():
        p50 = statistics.median(values)
        lines.append(f"{name:<20} {p50:>8.3f} {pct(values, 90):>8.3f} {p50 - base:>17.3f}")
    boto_api = statistics.median(samples["boto3 -> API"])
    boto_stub = statistics.median(samples["boto3 -> stub"])
    raw = statistics.median(samples["http.client -> API"])
    lines += ["",
              f"server overhead, boto3 round trip - in-process (target <= 2 ms): "
              f"{boto_api - base:.3f} ms",
              f"  of which boto3 itself (boto3 -> stub):                           "
              f"{boto_stub:.3f} ms",
              f"  the server's own share (boto3 -> API - boto3 -> stub - in-process): "
              f"{boto_api - boto_stub - base:.3f} ms",
              f"  the server's own share, bare HTTP client (http.client - in-process): "
              f"{raw - base:.3f} ms",
              f"samples per path: {len(samples['in-process'])}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=300, help="invocations per path per round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    print(table(run(args.n, args.rounds)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
