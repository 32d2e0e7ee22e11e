"""The starter's I/O task on a real worker-io, side by side with the same call written by hand.

    .venv/bin/python bench/starter/io_task.py [--tasks 2000] [--latency 0.05] [--repeat 2]

``starter.tasks.io_bound.check_url`` fetches a local server that answers after --latency
seconds, --tasks times, on worker-io (its docker-compose.yml command); then bench/bare_app.py's
``bare.fetch`` does the same GET in a bare Celery app on the same pool and concurrency (no Django,
no result). Each runs --repeat times, interleaved, so a ratio compares runs taken moments apart.
A worker at concurrency c can at best make c / latency calls a second.

For each run: calls a second (between the first and the last request the server received) and
the worker's CPU time per call (bench/memory.py).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import bare_worker_start, bench_parser, bench_setup, worker_start
from memory import cpu_seconds


class Server(ThreadingHTTPServer):
    """Answers every GET with 204 after ``latency`` seconds and notes when each request came."""

    daemon_threads = True
    request_queue_size = 512

    def __init__(self, latency: float) -> None:
        super().__init__(("127.0.0.1", 0), Handler)
        self.latency = latency
        self.arrivals: list[float] = []
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/"

    def received(self, count: int, timeout: float) -> list[float]:
        deadline = time.monotonic() + timeout
        while len(self.arrivals) < count:
            if time.monotonic() > deadline:
                raise SystemExit(f"the server received {len(self.arrivals)} of {count} calls")
            time.sleep(0.05)
        with self.lock:
            arrivals, self.arrivals = self.arrivals, []
        return arrivals


class Handler(BaseHTTPRequestHandler):
    server: Server

    def do_GET(self) -> None:
        with self.server.lock:
            self.server.arrivals.append(time.monotonic())
        time.sleep(self.server.latency)
        self.send_response(204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        return


def run_once(send: Any, pid: int, server: Server, tasks: int, timeout: float) -> dict[str, float]:
    before = cpu_seconds(pid)
    for _ in range(tasks):
        send(server.url)
    arrivals = server.received(tasks, timeout)
    time.sleep(0.5)  # the last answers are written back
    used = cpu_seconds(pid) - before
    return {
        "calls_per_s": round((tasks - 1) / max(arrivals[-1] - arrivals[0], 1e-6), 1),
        "cpu_ms_per_call": round(used * 1000 / tasks, 3),
    }


def main() -> None:
    parser = bench_parser(__doc__.splitlines()[0] if __doc__ else None, concurrency=[100])
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    concurrency = args.concurrency[0]
    workdir = Path(tempfile.mkdtemp(prefix="bench-starter-io-"))
    server = Server(args.latency)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    servers = bench_setup(
        workdir, database_url=args.database_url, WORKER_IO_CONCURRENCY=str(concurrency)
    )
    from config.celery import app
    from starter.tasks.io_bound import check_url

    # The project's own app sends it, whatever app another import made current.
    check_url = app.tasks[check_url.name]

    os.environ.update(BARE_BROKER_URL=app.conf.broker_url, BARE_POOL_SIZE=str(concurrency))
    runs: dict[str, list[dict[str, float]]] = {"check_url": [], "bare": []}
    try:
        for _ in range(args.repeat):
            with (workdir / "worker-io.log").open("a") as log:
                worker = worker_start("worker-io", log)
                try:
                    runs["check_url"].append(
                        run_once(check_url.delay, worker.pid, server, args.tasks, args.timeout)
                    )
                finally:
                    worker.stop(30)
            with (workdir / "bare.log").open("a") as log:
                import bare_app

                worker = bare_worker_start(log, concurrency=concurrency)
                try:
                    runs["bare"].append(
                        run_once(bare_app.fetch.delay, worker.pid, server, args.tasks, args.timeout)
                    )
                finally:
                    worker.stop(30)
    finally:
        servers.stop()
        server.shutdown()
    result = {
        "tasks": args.tasks,
        "latency": args.latency,
        "concurrency": concurrency,
        "limit": concurrency / args.latency,
        "repeat": args.repeat,
        "runs": runs,
        "vs_bare": [
            round(ours["calls_per_s"] / bare["calls_per_s"], 3)
            for ours, bare in zip(runs["check_url"], runs["bare"], strict=True)
        ],
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
