"""Metrics on and off: the WhatsApp send path and the webhook, METRICS_ENABLED=1 against 0.

    .venv/bin/python bench/whatsapp/metrics_cost.py [--messages 1000] [--repeat 3]
        [--webhook-seconds 10] [--webhook-repeat 2] [--webhook-concurrency 16] [--json PATH]

METRICS_ENABLED=0 takes out web's request middleware (ops.metrics.web.MetricsMiddleware), its
``/metrics`` and the workers' task signal handlers (ops.metrics.tasks.connect); the count of the
WhatsApp send requests (``whatsapp_sends_total``) stays on either way. What metrics cost is
measured on the real paths by the benchmarks that already measure them, with metrics on and off
in turn (on, off, on, off, ...), so that each ratio compares runs taken moments apart:

* the send path: bench/whatsapp/io_throughput.py's run of the shipped worker-io (gevent,
  ``-c 100``) sending --messages one-part replies through the stand-in (200 ms), with
  METRICS_ENABLED (and a METRICS_PORT of its own) in the worker's environment. Each run is a
  process of its own with its own Redis, PostgreSQL and stand-in, as io_throughput.py's
  repetitions are, for the same reason. Sends/s and worker-io's CPU per send.
* the webhook: bench/whatsapp/webhook_ingest.py run whole but for worker-io (``--no-process``)
  at one concurrency, METRICS_ENABLED given to web with ``--web-env``; gunicorn runs in
  prometheus_client's multiprocess mode as in compose. Webhook POSTs/s and web's CPU per request,
  and the same figures for its trivial view (``GET /healthz``: the middleware's cost at its
  largest share of a request).

The first send run of each setting then checks that the setting took: with metrics on, worker-io
serves ``/metrics`` on its METRICS_PORT and counts a probe task, and web answers ``/metrics``
with ``web_requests_total``; with metrics off, worker-io serves nothing and web answers 404.

The goal is an on/off throughput ratio (median on / median off) of at least 0.97 on each path;
the figures are reported either way, met or not.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import asdict
from pathlib import Path
from typing import Any

# This folder, and bench/ (common, memory): the benchmarks run as scripts.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import io_throughput
import webhook_ingest
from common import bench_parser, worker_start
from standin import whatsapp_setup

HERE = Path(__file__).resolve().parent
GOAL = 0.97
SETTINGS = {"on": "1", "off": "0"}  # METRICS_ENABLED for each
# The configuration of io_throughput.py this measures: the shipped worker-io.
SHIPPED = next(c for c in io_throughput.CONFIGS if c.app == "project" and c.pool == "gevent")


# --- the send path: one run, in a process of its own ------------------------------------------


def send_once(args: argparse.Namespace) -> dict[str, Any]:
    """One run of the shipped send path with metrics ``args.send_once``; with ``--check``, then
    the check that the setting took."""
    setting = args.send_once
    workdir = Path(tempfile.mkdtemp(prefix="bench-metrics-"))
    standin, servers = whatsapp_setup(workdir, latency=args.latency, database_url=args.database_url)
    from django.db import connection

    with connection.cursor() as cursor:  # io_throughput counts the statements
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    worker_env = {
        "METRICS_ENABLED": SETTINGS[setting],
        "METRICS_PORT": str(webhook_ingest.free_port()),
    }
    try:
        run = io_throughput.run(SHIPPED, args, standin, args.run_number, worker_env=worker_env)
        check = switch_check(setting, workdir) if args.check else None
    finally:
        standin.stop()
        servers.stop()
    return {"metrics": setting, "run": asdict(run), "check": check}


def _get(url: str) -> tuple[int | None, str]:
    """(status, body) of a GET; (None, the error) when nothing answers."""
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310  (local)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError as error:
        return None, str(error)


def _samples(text: str, name: str, *words: str) -> float:
    """The sum of the samples of ``name`` whose labels hold every one of ``words``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(word in line for word in words):
            total += float(line.rsplit(" ", 1)[1])
    return total


def switch_check(setting: str, workdir: Path) -> dict[str, Any]:
    """worker-io and web started again with the setting: what each serves on ``/metrics``."""
    from ops.tasks import probe

    flag = SETTINGS[setting]
    port = webhook_ingest.free_port()
    with (workdir / "check-worker-io.log").open("w") as log:
        worker = worker_start("worker-io", log, METRICS_ENABLED=flag, METRICS_PORT=str(port))
        try:
            probe.apply_async(queue="io").get(timeout=30)
            deadline = time.monotonic() + 5
            while True:  # the success signal comes just after the result is stored
                status, text = _get(f"http://127.0.0.1:{port}/metrics")
                counted = _samples(text, "celery_tasks_total", "ops.tasks.probe", "succeeded")
                if counted or status is None or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
        finally:
            worker.stop(20)
    worker_figures = {"metrics_status": status, "probe_counted": counted}
    web_port = webhook_ingest.free_port()
    with (workdir / "check-web.log").open("w") as log:
        web = webhook_ingest.web_start(web_port, workdir, log, {"METRICS_ENABLED": flag})
        try:  # web_start waited for /healthz answering: those requests are counted
            web_status, web_text = _get(f"http://127.0.0.1:{web_port}/metrics")
        finally:
            web.stop(30)
    requests_counted = _samples(web_text, "web_requests_total")
    web_figures = {"metrics_status": web_status, "requests_counted": requests_counted}
    if setting == "on":
        ok = status == 200 and counted >= 1 and web_status == 200 and requests_counted >= 1
    else:
        ok = status is None and web_status != 200 and requests_counted == 0
    print(f"metrics {setting}: worker-io {worker_figures}, web {web_figures}", flush=True)
    return {"worker_io": worker_figures, "web": web_figures, "ok": ok}


# --- the runs, alternating --------------------------------------------------------------------


def _load() -> float:
    """The 1-minute load average now: other work on the machine, and the runs' own."""
    return round(os.getloadavg()[0], 2)


def _database(args: argparse.Namespace) -> list[str]:
    return ["--database-url", args.database_url] if args.database_url else []


def send_run(args: argparse.Namespace, setting: str, number: int, check: bool) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        command = [sys.executable, __file__, "--send-once", setting, "--json", out.name]
        command += ["--run-number", str(number), "--messages", str(args.messages)]
        command += ["--latency", str(args.latency), "--concurrency", str(args.concurrency)]
        command += ["--timeout", str(args.timeout), *_database(args)]
        if check:
            command.append("--check")
        print(f"\n-- send path, metrics {setting}", flush=True)
        started = time.monotonic()
        subprocess.run(command, check=True)
        once: dict[str, Any] = json.loads(Path(out.name).read_text())
    return {**once, "seconds": round(time.monotonic() - started), "load_1min": _load()}


def webhook_run(args: argparse.Namespace, setting: str) -> dict[str, Any]:
    """webhook_ingest.py whole but for worker-io, web with the setting."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "webhook.json"
        command = [sys.executable, str(HERE / "webhook_ingest.py"), "--json", str(out)]
        command += ["--concurrency", str(args.webhook_concurrency), "--no-process"]
        command += ["--seconds", str(args.webhook_seconds), "--timeout", str(args.timeout)]
        command += ["--web-env", f"METRICS_ENABLED={SETTINGS[setting]}", *_database(args)]
        print(f"\n-- webhook, metrics {setting}", flush=True)
        started = time.monotonic()
        # Its exit status says whether every check passed (kept in "ok"); the figures count.
        subprocess.run(command, check=False)
        if not out.exists():
            raise SystemExit(f"webhook_ingest.py wrote no figures (metrics {setting})")
        result: dict[str, Any] = json.loads(out.read_text())
    phases = result["concurrency"][str(args.webhook_concurrency)]
    return {
        "metrics": setting,
        "ok": result["ok"],
        "gunicorn": result.get("gunicorn", {}),
        "seconds": round(time.monotonic() - started),
        "load_1min": _load(),
        **{
            view: {
                "rate": phases[view]["requests_per_second"],
                "cpu_ms": phases[view]["cpu_ms_per_request"]["web"],
                "p50_ms": phases[view]["p50_ms"],
                "p99_ms": phases[view]["p99_ms"],
            }
            for view in ("webhook", "trivial")
        },
    }


def compare(on: list[dict[str, float]], off: list[dict[str, float]]) -> dict[str, Any]:
    """Rates and CPU per request, on against off: medians, their ratio, each pair's."""
    rate_on = statistics.median(r["rate"] for r in on)
    rate_off = statistics.median(r["rate"] for r in off)
    cpu_on = statistics.median(r["cpu_ms"] for r in on)
    cpu_off = statistics.median(r["cpu_ms"] for r in off)
    ratio = round(rate_on / rate_off, 3)
    return {
        "rates_on": [r["rate"] for r in on],
        "rates_off": [r["rate"] for r in off],
        "cpu_ms_on": [r["cpu_ms"] for r in on],
        "cpu_ms_off": [r["cpu_ms"] for r in off],
        "median_on": round(rate_on, 1),
        "median_off": round(rate_off, 1),
        "ratio": ratio,
        "pair_ratios": [round(a["rate"] / b["rate"], 3) for a, b in zip(on, off, strict=True)],
        "cpu_ms_median_on": round(cpu_on, 3),
        "cpu_ms_median_off": round(cpu_off, 3),
        "cpu_ratio": round(cpu_on / cpu_off, 3),
        "goal_met": ratio >= GOAL,
    }


def measure(args: argparse.Namespace) -> dict[str, Any]:
    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    sends: list[dict[str, Any]] = []
    for pair in range(args.repeat):
        for setting in SETTINGS:
            sends.append(send_run(args, setting, len(sends), check=pair == 0))
    hooks = [
        webhook_run(args, setting) for _pair in range(args.webhook_repeat) for setting in SETTINGS
    ]

    def of(runs: list[dict[str, Any]], setting: str) -> list[dict[str, float]]:
        return [r for r in runs if r["metrics"] == setting]

    send_rows = [
        {"metrics": s["metrics"], "rate": s["run"]["rate"], "cpu_ms": s["run"]["cpu_ms_per_send"]}
        for s in sends
    ]
    paths = {"send": compare(of(send_rows, "on"), of(send_rows, "off"))}
    for view in ("webhook", "trivial"):
        rows = [{"metrics": h["metrics"], **h[view]} for h in hooks]
        paths[view] = compare(of(rows, "on"), of(rows, "off"))
    paths["trivial"]["goal_met"] = None  # no goal: the middleware's share at its largest
    checks = {s["metrics"]: s["check"] for s in sends if s["check"] is not None}
    return {
        "goal": GOAL,
        "cpus": os.cpu_count(),
        "messages": args.messages,
        "latency": args.latency,
        "concurrency": args.concurrency,
        "repeat": args.repeat,
        "webhook_concurrency": args.webhook_concurrency,
        "webhook_seconds": args.webhook_seconds,
        "webhook_repeat": args.webhook_repeat,
        "gunicorn": hooks[0]["gunicorn"] if hooks else {},
        "paths": paths,
        "switch_checks": checks,
        "switch_ok": all(c["ok"] for c in checks.values()) and len(checks) == len(SETTINGS),
        "webhook_checks_ok": all(h["ok"] for h in hooks),
        "sends": sends,
        "webhooks": hooks,
        "load_1min_after_each_run": [r["load_1min"] for r in (*sends, *hooks)],
        "loadavg_before": loadavg_before,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
    }


def report(result: dict[str, Any]) -> None:
    print(f"\nmetrics on / off (goal: on/off throughput >= {result['goal']})")
    print(f"{'path':<10} {'on':>8} {'off':>8} {'on/off':>7} {'pairs':<22} {'CPU ms on/off':>16}")
    for name, p in result["paths"].items():
        pairs = ", ".join(f"{x:.3f}" for x in p["pair_ratios"])
        cpu = f"{p['cpu_ms_median_on']:.3f}/{p['cpu_ms_median_off']:.3f}"
        goal = {True: "met", False: "NOT met", None: ""}[p["goal_met"]]
        print(
            f"{name:<10} {p['median_on']:>8.1f} {p['median_off']:>8.1f} {p['ratio']:>7.3f}"
            f" {pairs:<22} {cpu:>16} {goal}"
        )
    print(f"the setting took (checked): {result['switch_ok']}, {result['switch_checks']}")
    print(f"load average before {result['loadavg_before']}, after {result['loadavg_after']}")


def main() -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    parser = bench_parser(description, concurrency=[100])
    parser.add_argument("--messages", type=int, default=1000, help="sends per run")
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in seconds per send")
    parser.add_argument("--repeat", type=int, default=3, help="send runs per setting")
    parser.add_argument("--webhook-concurrency", type=int, default=16)
    parser.add_argument("--webhook-seconds", type=float, default=10.0, help="per phase")
    parser.add_argument("--webhook-repeat", type=int, default=2, help="webhook runs per setting")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--send-once", choices=SETTINGS, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--run-number", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--check", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.concurrency = args.concurrency[0]
    if args.send_once is not None:
        result = send_once(args)
    else:
        result = measure(args)
        report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
