"""Webhook ingest: signed inbound WhatsApp webhooks through gunicorn, next to a trivial view.

    .venv/bin/python bench/whatsapp/webhook_ingest.py [--concurrency 16 64] [--seconds 10]
        [--json PATH] [--web-env WEB_WORKERS=2 --web-env WEB_THREADS=4 ...]

Starts a private redis-server and PostgreSQL (or --database-url), and the ``web`` service with
its docker-compose.yml command (``gunicorn --config=python:config.gunicorn config.wsgi``) and
production settings (DJANGO_DEBUG=0) on a free port. For each concurrency it sends, for
``--seconds`` each, ``GET /healthz`` (no I/O: what gunicorn and Django cost on their own, and
proof that the client is not the limit) and then signed webhook POSTs, every body distinct
(events are deduplicated by body hash): three status webhooks to one inbound text, shaped like
Meta's (devstack.standins.whatsapp). Also checks that a bad signature gets
403 and stores nothing, and that a redelivered body is stored once.

Then it checks that every POST answered 200 is stored, starts ``worker-io`` (compose command)
and waits until every event is processed, with no processing error. The help replies to the
inbound texts go to a WhatsApp stand-in.

The client runs in its own process: a non-blocking raw-socket loop over keep-alive connections
sending pre-built request bytes (standard library only). ``--web-env KEY=VALUE`` overrides web's
environment (WEB_WORKERS, WEB_THREADS, WEB_WORKER_CLASS) to compare gunicorn settings.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import re
import selectors
import socket
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# This folder, and bench/ (common, memory): the benchmarks run as scripts.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import REPO, Servers, bench_parser, worker_start
from memory import cpu_seconds
from standin import whatsapp_setup

from devstack.compose import COMPOSE_FILES, load_services
from devstack.processes import ServiceProcess, service_environment
from devstack.standins.whatsapp import (
    inbound_text_payload,
    new_wamid,
    sign,
    status_payload,
)

APP_SECRET = "bench-webhook-app-secret"  # noqa: S105  # pragma: allowlist secret (throwaway)
VERIFY_TOKEN = "bench-webhook-verify-token"  # noqa: S105  # pragma: allowlist secret (throwaway)
WEBHOOK_PATH = "/whatsapp/webhook/"
SAMPLES = REPO.parent / "shared" / "samples"
# The users the bodies come from and go to.
USERS = 5000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- requests --------------------------------------------------------------------------------


def user(n: int) -> str:
    """The user of the ``n``-th body."""
    return f"4479{n % USERS:08d}"


def _sample(name: str) -> dict[str, Any] | None:
    path = SAMPLES / name
    try:
        sample: dict[str, Any] = json.loads(path.read_text())
        return sample
    except (OSError, ValueError):
        return None


class Bodies:
    """Distinct, realistic webhook bodies: statuses of our sends, and inbound texts."""

    def __init__(self) -> None:
        self.count = 0
        self.sample_text = _sample("wa_webhook_inbound_text_postman.json")
        self.sample_failed = _sample("wa_webhook_status_failed.json")

    def next(self) -> bytes:
        n = self.count
        self.count += 1
        wa_id = user(n)
        kind = n % 4
        if kind == 0:
            payload = inbound_text_payload(wa_id=wa_id, text=f"hello {n}", wamid=new_wamid())
            if self.sample_text is not None and n % 8 == 0:
                payload = json.loads(json.dumps(self.sample_text))
                value = payload["entry"][0]["changes"][0]["value"]
                value["contacts"][0]["wa_id"] = wa_id
                value["messages"][0]["from"] = wa_id
                value["messages"][0]["id"] = new_wamid()
                value["messages"][0]["timestamp"] = str(int(time.time()))
        elif kind == 3 and self.sample_failed is not None and n % 8 == 3:
            payload = json.loads(json.dumps(self.sample_failed))
            value = payload["entry"][0]["changes"][0]["value"]
            value["statuses"][0]["id"] = new_wamid()
            value["statuses"][0]["recipient_id"] = wa_id
        else:
            status = ("sent", "delivered", "read")[kind - 1]
            payload = status_payload(
                wamid=new_wamid(), status=status, recipient_id=wa_id, callback_data=f"bench:{n}"
            )
        return json.dumps(payload, separators=(",", ":")).encode()


def post_request(port: int, body: bytes, signature: str) -> bytes:
    head = (
        f"POST {WEBHOOK_PATH} HTTP/1.1\r\n"
        f"Host: 127.0.0.1:{port}\r\n"
        "Content-Type: application/json\r\n"
        "X-Forwarded-Proto: https\r\n"
        f"X-Hub-Signature-256: {signature}\r\n"
        f"Content-Length: {len(body)}\r\n"
        "\r\n"
    )
    return head.encode() + body


def get_request(port: int, path: str = "/healthz") -> bytes:
    return (
        f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nX-Forwarded-Proto: https\r\n\r\n"
    ).encode()


# --- the load client -------------------------------------------------------------------------


@dataclass
class Load:
    """What one phase of the client measured."""

    sent: int
    seconds: float
    statuses: dict[int, int]
    latencies: list[float]  # seconds, one per answered request
    ok: list[int] = field(default_factory=list)  # indices of the requests answered 200
    errors: int = 0  # connections that failed (reset, refused)
    client_cpu: float = 0.0  # seconds of CPU the client used
    cpu_ms: dict[str, float] = field(default_factory=dict)  # per request, by process

    def rate(self) -> float:
        return len(self.latencies) / self.seconds if self.seconds else 0.0

    def percentile(self, p: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


class _Conn:
    def __init__(self, port: int) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.buffer = b""
        self.out = b""
        self.index = -1
        self.started = 0.0


def _response_complete(buffer: bytes) -> tuple[int, int, bool] | None:
    """(status, length of the whole response, connection closes) once it is all in."""
    end = buffer.find(b"\r\n\r\n")
    if end < 0:
        return None
    head = buffer[:end].decode("latin-1").lower()
    lines = head.split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    close = lines[0].startswith("http/1.0")
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name == "content-length":
            length = int(value)
        elif name == "connection":
            close = value.strip() == "close"
    total = end + 4 + length
    if len(buffer) < total:
        return None
    return status, total, close


def run_load(port: int, requests: list[bytes], concurrency: int, seconds: float) -> Load:
    """Send ``requests`` in order over ``concurrency`` keep-alive connections, each one request
    at a time, until they run out or ``seconds`` pass; the ones in flight then finish."""
    selector = selectors.DefaultSelector()
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    ok: list[int] = []
    errors = 0
    position = 0
    started = time.perf_counter()
    deadline = started + seconds
    open_conns = 0

    def send_next(conn: _Conn) -> bool:
        nonlocal position
        if position >= len(requests) or time.perf_counter() >= deadline:
            return False
        conn.index = position
        position += 1
        conn.started = time.perf_counter()
        conn.out = requests[conn.index]
        _flush(conn)
        return True

    def _flush(conn: _Conn) -> None:
        try:
            sent = conn.sock.send(conn.out)
        except BlockingIOError:
            sent = 0
        conn.out = conn.out[sent:]
        events = selectors.EVENT_READ | (selectors.EVENT_WRITE if conn.out else 0)
        selector.modify(conn.sock, events, conn)

    def close(conn: _Conn) -> None:
        nonlocal open_conns
        selector.unregister(conn.sock)
        conn.sock.close()
        open_conns -= 1

    def start_conn() -> _Conn:
        nonlocal open_conns
        conn = _Conn(port)
        selector.register(conn.sock, selectors.EVENT_READ, conn)
        open_conns += 1
        return conn

    for _ in range(concurrency):
        conn = start_conn()
        if not send_next(conn):
            close(conn)
    while open_conns:
        for key, events in selector.select(timeout=1.0):
            conn = key.data
            if events & selectors.EVENT_WRITE and conn.out:
                _flush(conn)
            if not events & selectors.EVENT_READ:
                continue
            try:
                chunk = conn.sock.recv(65536)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:
                # Closed before (or while) answering: a failed request; carry on on a new one.
                errors += 1
                close(conn)
                conn = start_conn()
                if not send_next(conn):
                    close(conn)
                continue
            conn.buffer += chunk
            done = _response_complete(conn.buffer)
            if done is None:
                continue
            status, total, closes = done
            latencies.append(time.perf_counter() - conn.started)
            statuses[status] = statuses.get(status, 0) + 1
            if status == 200:
                ok.append(conn.index)
            conn.buffer = conn.buffer[total:]
            if closes:
                close(conn)
                conn = start_conn()
            if not send_next(conn):
                close(conn)
    return Load(
        sent=position,
        seconds=time.perf_counter() - started,
        statuses=statuses,
        latencies=latencies,
        ok=ok,
        errors=errors,
    )


def load_in_subprocess(port: int, requests: list[bytes], concurrency: int, seconds: float) -> Load:
    """The client in its own process, away from this one's threads (the stand-in, log pumps)."""
    context = multiprocessing.get_context("spawn")
    with context.Pool(1) as pool:
        return pool.apply(_run_load_timed, (port, requests, concurrency, seconds))


def _run_load_timed(port: int, requests: list[bytes], concurrency: int, seconds: float) -> Load:
    before = time.process_time()
    load = run_load(port, requests, concurrency, seconds)
    load.client_cpu = time.process_time() - before
    return load


class CpuMeter:
    """CPU used by each server between ``start()`` and ``stop()``, per request. Less sensitive
    than requests/s to other load on the machine: the figure that says what a request costs."""

    def __init__(self, roots: dict[str, int | None]) -> None:
        self.roots = roots
        self.before: dict[str, float] = {}

    def _now(self) -> dict[str, float]:
        return {name: cpu_seconds(pid) if pid else 0.0 for name, pid in self.roots.items()}

    def start(self) -> None:
        self.before = self._now()

    def per_request_ms(self, requests: int) -> dict[str, float]:
        after = self._now()
        used = {name: after[name] - self.before[name] for name in self.roots}
        used["total"] = sum(used.values())
        return {name: round(value * 1000 / max(requests, 1), 3) for name, value in used.items()}


def loadavg() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


# --- the run ---------------------------------------------------------------------------------


def web_start(port: int, workdir: Path, log: Any, overrides: dict[str, str]) -> ServiceProcess:
    environ = {
        **os.environ,
        "WEB_BIND": f"127.0.0.1:{port}",
        "GUNICORN_CONTROL_SOCKET": str(workdir / "gunicorn.ctl"),
        **overrides,
    }
    service = load_services(environ, ["web"], files=COMPOSE_FILES[:1])["web"]
    env = {**service_environment(service, environ), **overrides}
    web = ServiceProcess(service, env, log).start()
    deadline = time.monotonic() + 60
    while True:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
                sock.sendall(get_request(port))
                if sock.recv(100).startswith(b"HTTP/1.1 200"):
                    return web
        except OSError:
            pass
        if time.monotonic() > deadline or not web.alive():
            web.stop(5)
            raise SystemExit(f"web did not start; see {log.name}")
        time.sleep(0.2)


def phase_figures(load: Load) -> dict[str, Any]:
    return {
        "requests": len(load.latencies),
        "seconds": round(load.seconds, 3),
        "requests_per_second": round(load.rate(), 1),
        "p50_ms": round(load.percentile(50) * 1000, 2),
        "p99_ms": round(load.percentile(99) * 1000, 2),
        "max_ms": round(max(load.latencies, default=0) * 1000, 2),
        "statuses": {str(k): v for k, v in sorted(load.statuses.items())},
        "connection_errors": load.errors,
        "cpu_ms_per_request": {
            **load.cpu_ms,
            "client": round(load.client_cpu * 1000 / max(len(load.latencies), 1), 3),
        },
    }


def main() -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    parser = bench_parser(description, concurrency=[16, 64])
    parser.add_argument("--seconds", type=float, default=10.0, help="per phase")
    parser.add_argument(
        "--max-requests", type=int, default=30_000, help="webhook POSTs per phase at most"
    )
    parser.add_argument("--warmup", type=float, default=1.0, help="seconds of each before")
    parser.add_argument("--web-env", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    parser.add_argument("--no-process", action="store_true", help="skip the worker-io part")
    args = parser.parse_args()
    overrides = dict(item.split("=", 1) for item in args.web_env)

    workdir = Path(tempfile.mkdtemp(prefix="bench-webhook-"))
    standin, servers = whatsapp_setup(
        workdir,
        latency=0.0,
        database_url=args.database_url,
        WHATSAPP_APP_SECRET=APP_SECRET,
        WHATSAPP_VERIFY_TOKEN=VERIFY_TOKEN,
    )
    # Meta knows of every inbound text it delivers: the users' 24-hour windows are open at the
    # stand-in too, for the help replies (the app opens its own from the webhooks).
    for n in range(USERS):
        standin.open_window(user(n))
    try:
        results = run(args, workdir, overrides, servers)
    finally:
        standin.stop()
        servers.stop()
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
        print(f"figures written to {args.json}")
    return 0 if results["ok"] else 1


def run(
    args: argparse.Namespace, workdir: Path, overrides: dict[str, str], servers: Servers
) -> dict[str, Any]:
    from config.celery import app
    from whatsapp.models import WebhookEvent

    WebhookEvent.objects.all().delete()
    app.control.purge()
    port = free_port()
    bodies = Bodies()
    posted: list[bytes] = []  # every body answered 200, to check it was stored

    def webhook_requests(count: int) -> list[bytes]:
        return [bodies.next() for _ in range(count)]

    meter: CpuMeter | None = None

    def measured(requests: list[bytes], concurrency: int, seconds: float) -> Load:
        if meter is not None:
            meter.start()
        load = load_in_subprocess(port, requests, concurrency, seconds)
        if meter is not None:
            load.cpu_ms = meter.per_request_ms(len(load.latencies))
        return load

    def post(made: list[bytes], concurrency: int, seconds: float) -> Load:
        requests = [post_request(port, body, sign(body, APP_SECRET)) for body in made]
        load = measured(requests, concurrency, seconds)
        posted.extend(made[i] for i in load.ok)
        return load

    log_path = workdir / "web.log"
    results: dict[str, Any] = {
        "benchmark": "webhook_ingest",
        "cpus": os.cpu_count(),
        "seconds_per_phase": args.seconds,
        "web_env": overrides,
        "loadavg_before": loadavg(),
        "concurrency": {},
    }
    with log_path.open("w") as log:
        web = web_start(port, workdir, log, overrides)
        meter = CpuMeter(
            {
                "web": web.popen.pid if web.popen else None,
                "postgres": pid_of(servers.postgres),
                "redis": pid_of(servers.redis),
            }
        )
        try:
            results["gunicorn"] = gunicorn_settings(log_path, overrides)
            healthz = get_request(port)
            for concurrency in args.concurrency:
                # Warm up both paths (imports, the connection pools, the broker connection).
                load_in_subprocess(port, [healthz] * 100_000, concurrency, args.warmup)
                post(webhook_requests(5_000), concurrency, args.warmup)
                trivial = measured([healthz] * 1_000_000, concurrency, args.seconds)
                hook = post(webhook_requests(args.max_requests), concurrency, args.seconds)
                figures: dict[str, Any] = {
                    "trivial": phase_figures(trivial),
                    "webhook": phase_figures(hook),
                    "loadavg": loadavg(),
                }
                figures["webhook_vs_trivial"] = round(hook.rate() / trivial.rate(), 3)
                results["concurrency"][str(concurrency)] = figures
                print_phase(concurrency, figures)
            results["checks"] = checks(port, posted, post)
        finally:
            web.stop(30)
    results["stored"] = stored_check(posted)
    if not args.no_process:
        results["processing"] = processing(args.timeout, workdir)
    results["loadavg_after"] = loadavg()
    results["ok"] = bool(
        results["stored"]["all_stored"]
        and results["checks"]["ok"]
        and (args.no_process or results["processing"]["all_processed"])
    )
    return results


def pid_of(server: Any) -> int | None:
    process = getattr(server, "process", None)
    return process.pid if process is not None else None


def gunicorn_settings(log_path: Path, overrides: dict[str, str]) -> dict[str, Any]:
    """Worker class and count as gunicorn logged them at start; threads from its config."""
    import importlib

    saved = dict(os.environ)
    os.environ.update(overrides)
    try:
        config = importlib.reload(importlib.import_module("config.gunicorn"))
    finally:
        os.environ.clear()
        os.environ.update(saved)
    text = log_path.read_text()
    found: dict[str, Any] = {"threads": config.threads}
    # The line may be a JSON log record: the class is the word after the phrase.
    for match in re.finditer(r"Using worker: (\w+)", text):
        found["worker_class"] = match.group(1)
    found["workers"] = text.count("Booting worker with pid")
    return found


def checks(port: int, posted: list[bytes], post: Any) -> dict[str, Any]:
    """A bad signature is refused and stores nothing; a redelivered body is stored once."""
    from whatsapp.models import WebhookEvent

    bad_body = json.dumps(
        inbound_text_payload(wa_id="447000000001", text="forged", wamid=new_wamid())
    ).encode()
    forged = [
        post_request(port, bad_body, sign(bad_body, "not-the-secret")),
        post_request(port, bad_body, "sha256=" + "0" * 64),
        post_request(port, bad_body, ""),
    ]
    bad = load_in_subprocess(port, forged, 3, 10)
    forged_stored = WebhookEvent.objects.filter(
        body_sha256=hashlib.sha256(bad_body).hexdigest()
    ).count()
    again = posted[:50]
    redelivered = load_in_subprocess(
        port, [post_request(port, b, sign(b, APP_SECRET)) for b in again], 8, 10
    )
    rows = WebhookEvent.objects.filter(
        body_sha256__in=[hashlib.sha256(b).hexdigest() for b in again]
    ).count()
    figures = {
        "bad_signature_statuses": {str(k): v for k, v in bad.statuses.items()},
        "bad_signature_stored": forged_stored,
        "redelivered": len(again),
        "redelivered_statuses": {str(k): v for k, v in redelivered.statuses.items()},
        "redelivered_rows": rows,
    }
    figures["ok"] = (
        bad.statuses == {403: 3}
        and forged_stored == 0
        and redelivered.statuses == {200: len(again)}
        and rows == len(again)
    )
    return figures


def stored_check(posted: list[bytes]) -> dict[str, Any]:
    from whatsapp.models import WebhookEvent

    stored = set(WebhookEvent.objects.values_list("body_sha256", flat=True).iterator())
    wanted = {hashlib.sha256(body).hexdigest() for body in posted}
    missing = len(wanted - stored)
    return {
        "answered_200": len(posted),
        "rows": len(stored),
        "missing": missing,
        "all_stored": missing == 0 and len(stored) == len(wanted),
    }


def processing(timeout: float, workdir: Path) -> dict[str, Any]:
    """Start worker-io and wait until every stored event is processed."""
    from whatsapp.models import WebhookEvent

    total = WebhookEvent.objects.count()
    with (workdir / "worker-io.log").open("w") as log:
        worker = worker_start("worker-io", log)
        started = time.monotonic()
        try:
            deadline = started + timeout
            left = total
            while left and time.monotonic() < deadline:
                time.sleep(0.25)
                left = WebhookEvent.objects.filter(processed_at__isnull=True).count()
            seconds = time.monotonic() - started
        finally:
            worker.stop(30)
    failed = WebhookEvent.objects.exclude(processing_error="").count()
    return {
        "events": total,
        "unprocessed": left,
        "processing_errors": failed,
        "seconds": round(seconds, 2),
        "events_per_second": round(total / seconds, 1) if seconds else None,
        "all_processed": left == 0 and failed == 0,
    }


def print_phase(concurrency: int, figures: dict[str, Any]) -> None:
    for name in ("trivial", "webhook"):
        f = figures[name]
        print(
            f"c={concurrency} {name}: {f['requests_per_second']:.0f} req/s, "
            f"p50 {f['p50_ms']:.1f} ms, p99 {f['p99_ms']:.1f} ms, {f['statuses']}, "
            f"CPU ms/request {f['cpu_ms_per_request']}"
            f" (load {figures['loadavg']})",
            flush=True,
        )


def print_table(results: dict[str, Any]) -> None:
    print()
    gunicorn = results.get("gunicorn", {})
    print(
        f"webhook ingest: gunicorn {gunicorn.get('worker_class', '?')}, "
        f"{gunicorn.get('workers', '?')} workers x {gunicorn.get('threads', '?')} threads "
        f"{results['web_env']}, {results['cpus']} CPUs, "
        f"{results['seconds_per_phase']:.0f} s per phase"
    )
    header = (
        f"{'c':>4} {'view':<8} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'non-200':>8}"
        f" {'vs trivial':>10} {'CPU ms/req':>10} {'web':>6} {'pg':>6} {'redis':>6} {'client':>6}"
    )
    print(header)
    for concurrency, figures in results["concurrency"].items():
        for name in ("trivial", "webhook"):
            f = figures[name]
            bad = sum(v for k, v in f["statuses"].items() if k != "200") + f["connection_errors"]
            ratio = f"{figures['webhook_vs_trivial']:.2f}" if name == "webhook" else ""
            cpu = f["cpu_ms_per_request"]
            print(
                f"{concurrency:>4} {name:<8} {f['requests_per_second']:>8.0f}"
                f" {f['p50_ms']:>8.1f} {f['p99_ms']:>8.1f} {bad:>8} {ratio:>10}"
                f" {cpu.get('total', 0) + cpu['client']:>10.3f} {cpu.get('web', 0):>6.3f}"
                f" {cpu.get('postgres', 0):>6.3f} {cpu.get('redis', 0):>6.3f} {cpu['client']:>6.3f}"
            )
    stored = results["stored"]
    print(
        f"stored: {stored['rows']} rows for {stored['answered_200']} answered 200,"
        f" {stored['missing']} missing"
    )
    print(f"checks (bad signature, redelivery): {results['checks']}")
    if "processing" in results:
        p = results["processing"]
        print(
            f"worker-io processed {p['events'] - p['unprocessed']}/{p['events']} events in "
            f"{p['seconds']:.1f} s ({p['events_per_second']}/s), {p['processing_errors']} errors"
        )
    print(f"load average before {results['loadavg_before']}, after {results['loadavg_after']}")


if __name__ == "__main__":
    raise SystemExit(main())
