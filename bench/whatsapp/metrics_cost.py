"""Metrics on and off: the WhatsApp send path and the webhook, METRICS_ENABLED=1 against 0.

    .venv/bin/python bench/whatsapp/metrics_cost.py [--messages 1000] [--repeat 4]
        [--webhook-repeat 5] [--webhook-seconds 2] [--webhook-concurrency 16] [--json PATH]

METRICS_ENABLED=0 takes out web's request middleware (ops.metrics.web.MetricsMiddleware), its
``/metrics`` and the workers' task signal handlers (ops.metrics.tasks.connect); the count of the
WhatsApp send requests (``whatsapp_sends_total``) stays on either way. Each path runs with both
settings side by side, started once, and the two take turns in pairs, each pair's order swapped
from the one before (on, off, off, on, on, off, ...): a ratio compares turns seconds apart, and a
load that rises or falls through the run weighs on both alike.

* The send path: two worker-io nodes with the compose command (gevent, ``-c 100``), one with
  METRICS_ENABLED=1, one with 0, each with a METRICS_PORT of its own; the one whose turn it is
  consumes the io queue, the other's consumer is cancelled. A turn is --messages one-part
  replies, their rows created with the real service and their wake-ups published at once (as
  bench/whatsapp/io_throughput.py does: its ``_project_prepare``), sent through the stand-in
  answering after --latency s. Sends/s between the first and the last request the stand-in
  received, and the worker's CPU per send (up to the last row marked sent).
* The webhook: two gunicorns with web's compose command, production settings, each with its own
  PROMETHEUS_MULTIPROC_DIR (multiprocess mode, as in compose), one per setting; a turn is
  bench/whatsapp/webhook_ingest.py's client sending ``GET /healthz`` (the trivial view, where
  the middleware's share of a request is largest) and then signed webhook POSTs (every body
  distinct) for --webhook-seconds each, at --webhook-concurrency. Requests/s and web's CPU per
  request (gunicorn's master and workers).

Each path has its own Redis, PostgreSQL and stand-in, and checks afterwards that the setting
took, by exact counts: with metrics on, worker-io's ``/metrics`` counts every send of its turns
and web's every webhook POST it answered 200; with metrics off, worker-io serves nothing and
web's ``/metrics`` is a 404. Every webhook answered 200 must be stored.

The goal is an on/off throughput ratio (median on / median off) of at least 0.97 on the send path
and the webhook; the figures are reported either way, met or not.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import IO, Any

# This folder, and bench/ (common, memory): the benchmarks run as scripts.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import io_throughput
import webhook_ingest
from common import REPO, bench_parser, worker_start
from memory import cpu_seconds
from standin import whatsapp_setup

from devstack.processes import ServiceProcess
from devstack.standins.whatsapp import WhatsAppStandIn, sign

GOAL = 0.97
SETTINGS = {"on": "1", "off": "0"}  # METRICS_ENABLED for each


def turns(pairs: int) -> list[str]:
    """The settings' turns: on, off, then off, on, and so on."""
    order: list[str] = []
    for pair in range(pairs):
        order += ["on", "off"] if pair % 2 == 0 else ["off", "on"]
    return order


def _get(url: str) -> tuple[int | None, str]:
    """(status, body) of a GET; (None, the error) when nothing answers."""
    request = urllib.request.Request(url, headers={"X-Forwarded-Proto": "https"})  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310  (local)
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError as error:
        return None, str(error)


def _samples(text: str, name: str, *words: str) -> float:
    """The sum of the samples of ``name`` whose line holds every one of ``words``."""
    total = 0.0
    for line in text.splitlines():
        if line.startswith(f"{name}{{") and all(word in line for word in words):
            total += float(line.rsplit(" ", 1)[1])
    return total


def _median(rates: list[float]) -> float:
    return round(statistics.median(rates), 1)


# --- the send path ----------------------------------------------------------------------------


def _consume(node: str, on: bool) -> None:
    """Make ``node`` consume the io queue, or stop it, and wait for its answer."""
    from config.celery import app
    from config.queues import Queue

    control = app.control.add_consumer if on else app.control.cancel_consumer
    replies = control(Queue.IO.value, destination=[node], reply=True, timeout=10)
    if not any(node in reply for reply in replies or []):
        raise SystemExit(f"{node} did not answer {control.__name__}")


def send_turn(
    args: argparse.Namespace,
    standin: WhatsAppStandIn,
    workers: dict[str, tuple[str, ServiceProcess]],
    setting: str,
    number: int,
) -> dict[str, Any]:
    """One turn: ``args.messages`` replies sent by the ``setting`` worker."""
    from whatsapp.models import OutboundMessage, OutboundStatus

    OutboundMessage.objects.all().delete()
    standin.reset()
    standin.latency = args.latency  # reset() puts it back to none
    for other, (node, _worker) in workers.items():
        if other != setting:
            _consume(node, on=False)
    node, worker = workers[setting]
    _consume(node, on=True)
    wake_ups = io_throughput._project_prepare(args, number, standin)
    cpu_before = cpu_seconds(worker.pid)
    for wake_up in wake_ups:
        wake_up()
    received = standin.wait_for(args.messages, timeout=args.timeout)
    # The last sends' rows are marked sent just after their answers: their CPU counts too.
    deadline = time.monotonic() + 30
    sent = OutboundMessage.objects.filter(status=OutboundStatus.SENT)
    while sent.count() < args.messages and time.monotonic() < deadline:
        time.sleep(0.05)
    cpu = cpu_seconds(worker.pid) - cpu_before
    times = sorted(r.at for r in received)
    figures = {
        "metrics": setting,
        "sends": len(times),
        "seconds": round(times[-1] - times[0], 2),
        "rate": round((len(times) - 1) / (times[-1] - times[0]), 1),
        "cpu_ms": round(cpu * 1000 / len(times), 3),
        "marked_sent": sent.count(),
        "load_1min": round(os.getloadavg()[0], 2),
    }
    print(
        f"send path, metrics {setting}: {figures['sends']} sends in {figures['seconds']} s"
        f" ({figures['rate']:.0f}/s), {figures['cpu_ms']:.2f} ms worker CPU per send",
        flush=True,
    )
    return figures


def send_part(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-metrics-send-"))
    standin, servers = whatsapp_setup(workdir, latency=args.latency, database_url=args.database_url)
    from config.celery import app

    app.control.purge()
    ports = {setting: webhook_ingest.free_port() for setting in SETTINGS}
    workers: dict[str, tuple[str, ServiceProcess]] = {}
    logs: list[IO[str]] = []
    host = socket.gethostname()
    try:
        for setting, flag in SETTINGS.items():
            instance = f"io-metrics-{setting}"
            logs.append((workdir / f"{instance}.log").open("w"))
            worker = worker_start(
                "worker-io",
                logs[-1],
                instance=instance,
                METRICS_ENABLED=flag,
                METRICS_PORT=str(ports[setting]),
                WORKER_IO_CONCURRENCY=str(args.concurrency),
                WHATSAPP_HTTP_POOL_SIZE=str(args.concurrency),
            )
            workers[setting] = (f"{instance}@{host}", worker)
        runs = [
            send_turn(args, standin, workers, setting, number)
            for number, setting in enumerate(turns(args.repeat))
        ]
        check = send_check(ports, expected=args.messages * args.repeat)
    finally:
        for _node, worker in workers.values():
            worker.stop(20)
        for log in logs:
            log.close()
        standin.stop()
        servers.stop()
    return {"runs": runs, "check": check}


def send_check(ports: dict[str, int], expected: int) -> dict[str, Any]:
    """What each worker serves on its METRICS_PORT: on, every send of its turns counted."""
    status, text = _get(f"http://127.0.0.1:{ports['on']}/metrics")
    sends = _samples(text, "whatsapp_sends_total", 'outcome="sent"')
    tasks = _samples(text, "celery_tasks_total", 'outcome="succeeded"')
    off_status, _ = _get(f"http://127.0.0.1:{ports['off']}/metrics")
    figures: dict[str, Any] = {
        "on": {"metrics_status": status, "sends_counted": sends, "tasks_counted": tasks},
        "off": {"metrics_status": off_status},
        "expected_sends": expected,
    }
    figures["ok"] = status == 200 and sends == expected and tasks >= expected and off_status is None
    print(f"send path: the setting took: {figures}", flush=True)
    return figures


# --- the webhook ------------------------------------------------------------------------------


def webhook_part(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-metrics-webhook-"))
    standin, servers = whatsapp_setup(
        workdir,
        latency=0.0,
        database_url=args.database_url,
        WHATSAPP_APP_SECRET=webhook_ingest.APP_SECRET,
        WHATSAPP_VERIFY_TOKEN=webhook_ingest.VERIFY_TOKEN,
    )
    from config.celery import app
    from whatsapp.models import WebhookEvent

    WebhookEvent.objects.all().delete()
    app.control.purge()
    ports = {setting: webhook_ingest.free_port() for setting in SETTINGS}
    webs: dict[str, ServiceProcess] = {}
    logs: list[IO[str]] = []
    bodies = webhook_ingest.Bodies()
    posted: list[bytes] = []  # every body answered 200, to check it was stored
    answered = dict.fromkeys(SETTINGS, 0)  # webhook POSTs answered 200, by setting

    def phase(setting: str, view: str, seconds: float) -> dict[str, Any]:
        port = ports[setting]
        made: list[bytes] = []
        if view == "webhook":
            made = [bodies.next() for _ in range(int(2500 * seconds) + 500)]
            sig = webhook_ingest.APP_SECRET
            requests = [webhook_ingest.post_request(port, b, sign(b, sig)) for b in made]
        else:
            requests = [webhook_ingest.get_request(port)] * int(5000 * seconds + 500)
        before = cpu_seconds(webs[setting].pid)
        load = webhook_ingest.load_in_subprocess(port, requests, args.webhook_concurrency, seconds)
        cpu = cpu_seconds(webs[setting].pid) - before
        if view == "webhook":
            posted.extend(made[i] for i in load.ok)
            answered[setting] += len(load.ok)
        return {
            "rate": round(load.rate(), 1),
            "cpu_ms": round(cpu * 1000 / max(len(load.latencies), 1), 3),
            "requests": len(load.latencies),
            "p50_ms": round(load.percentile(50) * 1000, 2),
            "p99_ms": round(load.percentile(99) * 1000, 2),
            "not_200": sum(n for status, n in load.statuses.items() if status != 200),
            "connection_errors": load.errors,
        }

    try:
        for setting, flag in SETTINGS.items():
            folder = workdir / f"web-{setting}"
            folder.mkdir()
            logs.append((folder / "web.log").open("w"))
            overrides = {"METRICS_ENABLED": flag, "PROMETHEUS_MULTIPROC_DIR": str(folder / "mp")}
            webs[setting] = webhook_ingest.web_start(ports[setting], folder, logs[-1], overrides)
        gunicorn = webhook_ingest.gunicorn_settings(workdir / "web-on" / "web.log", {})
        for setting in SETTINGS:  # imports, the connection pools, the broker connection
            phase(setting, "trivial", 1.0)
            phase(setting, "webhook", 1.0)
        runs = []
        for setting in turns(args.webhook_repeat):
            trivial = phase(setting, "trivial", args.webhook_seconds)
            webhook = phase(setting, "webhook", args.webhook_seconds)
            load = round(os.getloadavg()[0], 2)
            runs.append(
                {"metrics": setting, "trivial": trivial, "webhook": webhook, "load_1min": load}
            )
            print(
                f"webhook, metrics {setting}: {webhook['rate']:.0f} POSTs/s,"
                f" {webhook['cpu_ms']:.2f} ms web CPU each; trivial view {trivial['rate']:.0f}/s,"
                f" {trivial['cpu_ms']:.2f} ms",
                flush=True,
            )
        check = webhook_check(ports, answered)
    finally:
        for web in webs.values():
            web.stop(30)
        for log in logs:
            log.close()
    try:
        stored = webhook_ingest.stored_check(posted)
    finally:
        standin.stop()
        servers.stop()
    return {"runs": runs, "check": check, "stored": stored, "gunicorn": gunicorn}


def webhook_check(ports: dict[str, int], answered: dict[str, int]) -> dict[str, Any]:
    """What each web answers on /metrics: on, every webhook POST it answered 200 counted."""
    status, text = _get(f"http://127.0.0.1:{ports['on']}/metrics")
    counted = _samples(text, "web_requests_total", 'method="POST"', 'status="200"')
    off_status, off_text = _get(f"http://127.0.0.1:{ports['off']}/metrics")
    off_counted = _samples(off_text, "web_requests_total")
    figures: dict[str, Any] = {
        "on": {"metrics_status": status, "posts_counted": counted},
        "posts_answered_200": answered["on"],
        "off": {"metrics_status": off_status, "posts_counted": off_counted},
    }
    figures["ok"] = status == 200 and counted == answered["on"] and off_status == 404
    print(f"webhook: the setting took: {figures}", flush=True)
    return figures


# --- the instrumentation alone ----------------------------------------------------------------

OVERHEAD_CALLS = 20000


def overhead_part(args: argparse.Namespace) -> dict[str, Any]:
    """What the instrumentation itself costs, in this process, in the mode each path runs it:
    web's middleware around a view that does nothing (multiprocess, as gunicorn runs it), against
    the same view called bare; and a task's signal handlers (prerun, postrun, success), as a
    worker runs them. Microseconds per request and per task, the median of 5 rounds."""
    import django
    from django.http import HttpResponse
    from django.test import RequestFactory
    from django.urls import resolve

    django.setup()
    from ops.metrics import tasks as task_metrics
    from ops.metrics.web import MetricsMiddleware

    request = RequestFactory().post("/whatsapp/webhook/", data=b"{}", content_type="text/plain")
    request.resolver_match = resolve("/whatsapp/webhook/")
    response = HttpResponse()

    def view(_: Any) -> HttpResponse:
        return response

    wrapped = MetricsMiddleware(view)
    from whatsapp.tasks import send_message as task

    def per_call(call: Any) -> float:
        rounds = []
        for _ in range(5):
            started = time.perf_counter()
            for _ in range(OVERHEAD_CALLS):
                call()
            rounds.append((time.perf_counter() - started) / OVERHEAD_CALLS * 1e6)
        return statistics.median(rounds)

    def task_signals() -> None:
        task_metrics._task_prerun(task_id="t")
        task_metrics._task_postrun(task_id="t", task=task)
        task_metrics._succeeded(sender=task)

    bare = per_call(lambda: view(request))
    return {
        "multiprocess": bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR")),
        "request_us": round(per_call(lambda: wrapped(request)) - bare, 2),
        "task_us": round(per_call(task_signals), 2),
    }


# --- the whole run ----------------------------------------------------------------------------


def part(args: argparse.Namespace, name: str) -> dict[str, Any]:
    """One path, in a process of its own (its own servers and Django set up for them)."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"{name}.json"
        command = [sys.executable, __file__, "--part", name, "--json", str(out)]
        command += ["--messages", str(args.messages), "--latency", str(args.latency)]
        command += ["--concurrency", str(args.concurrency), "--timeout", str(args.timeout)]
        command += ["--repeat", str(args.repeat), "--webhook-repeat", str(args.webhook_repeat)]
        command += ["--webhook-seconds", str(args.webhook_seconds)]
        command += ["--webhook-concurrency", str(args.webhook_concurrency)]
        if args.database_url:
            command += ["--database-url", args.database_url]
        print(f"\n-- {name}", flush=True)
        started = time.monotonic()
        subprocess.run(command, check=True)
        result: dict[str, Any] = json.loads(out.read_text())
    result["seconds"] = round(time.monotonic() - started)
    return result


def compare(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Rates and CPU per request, on against off: medians, their ratio, each pair's."""
    on = [r for r in runs if r["metrics"] == "on"]
    off = [r for r in runs if r["metrics"] == "off"]
    pairs = [runs[i : i + 2] for i in range(0, len(runs) - 1, 2)]
    by_setting = [{r["metrics"]: r for r in pair} for pair in pairs]
    rate_on, rate_off = _median([r["rate"] for r in on]), _median([r["rate"] for r in off])
    cpu_on = statistics.median(r["cpu_ms"] for r in on)
    cpu_off = statistics.median(r["cpu_ms"] for r in off)
    pair_ratios = [round(p["on"]["rate"] / p["off"]["rate"], 3) for p in by_setting]
    ratio = round(rate_on / rate_off, 3)
    return {
        "rates_on": [r["rate"] for r in on],
        "rates_off": [r["rate"] for r in off],
        "cpu_ms_on": [r["cpu_ms"] for r in on],
        "cpu_ms_off": [r["cpu_ms"] for r in off],
        "median_on": rate_on,
        "median_off": rate_off,
        "ratio": ratio,
        "pair_ratios": pair_ratios,
        "pair_ratios_median": round(statistics.median(pair_ratios), 3),
        "cpu_ms_median_on": round(cpu_on, 3),
        "cpu_ms_median_off": round(cpu_off, 3),
        "cpu_ratio": round(cpu_on / cpu_off, 3),
        "goal_met": ratio >= GOAL,
    }


def overhead(args: argparse.Namespace) -> dict[str, Any]:
    """overhead_part in a process of its own, with web's multiprocess mode."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "overhead.json"
        env = {
            **os.environ,
            "PROMETHEUS_MULTIPROC_DIR": str(Path(folder) / "metrics"),
            "DJANGO_DEBUG": "1",
            "DOTENV_DISABLED": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        command = [sys.executable, __file__, "--part", "overhead", "--json", str(out)]
        subprocess.run(command, check=True, env=env, cwd=REPO / "backend")
        result: dict[str, Any] = json.loads(out.read_text())
    return result


def measure(args: argparse.Namespace) -> dict[str, Any]:
    loadavg_before = [round(x, 2) for x in os.getloadavg()]
    own = overhead(args)
    sends = part(args, "send")
    hooks = part(args, "webhook")
    paths = {"send": compare(sends["runs"])}
    for view in ("webhook", "trivial"):
        paths[view] = compare([{"metrics": r["metrics"], **r[view]} for r in hooks["runs"]])
    paths["trivial"]["goal_met"] = None  # no goal: the middleware's share at its largest
    # The instrumentation's own cost against what a request or a send costs with metrics off.
    own["send_ratio"] = round(1 - own["task_us"] / 1000 / paths["send"]["cpu_ms_median_off"], 4)
    own["webhook_ratio"] = round(
        1 - own["request_us"] / 1000 / paths["webhook"]["cpu_ms_median_off"], 4
    )
    load = [r["load_1min"] for r in (*sends["runs"], *hooks["runs"])]
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
        "gunicorn": hooks["gunicorn"],
        "paths": paths,
        "overhead": own,
        "send_check": sends["check"],
        "webhook_check": hooks["check"],
        "stored": hooks["stored"],
        "switch_ok": bool(
            sends["check"]["ok"] and hooks["check"]["ok"] and hooks["stored"]["all_stored"]
        ),
        "seconds": {"send": sends["seconds"], "webhook": hooks["seconds"]},
        "load_1min_after_each_turn": load,
        "loadavg_before": loadavg_before,
        "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        "send_runs": sends["runs"],
        "webhook_runs": hooks["runs"],
    }


def report(result: dict[str, Any]) -> None:
    print(f"\nmetrics on / off (goal: on/off throughput >= {result['goal']})")
    print(f"{'path':<9} {'on':>8} {'off':>8} {'on/off':>7}  {'pairs':<38} {'CPU ms on/off':>14}")
    for name, p in result["paths"].items():
        pairs = ", ".join(f"{x:.3f}" for x in p["pair_ratios"])
        cpu = f"{p['cpu_ms_median_on']:.3f}/{p['cpu_ms_median_off']:.3f}"
        goal = {True: "met", False: "NOT met", None: ""}[p["goal_met"]]
        print(
            f"{name:<9} {p['median_on']:>8.1f} {p['median_off']:>8.1f} {p['ratio']:>7.3f}"
            f"  {pairs:<38} {cpu:>14} {goal}"
        )
    own = result["overhead"]
    print(
        f"the instrumentation alone: {own['request_us']} us a request (web, multiprocess),"
        f" {own['task_us']} us a task; against the CPU of a request or a send with metrics off:"
        f" webhook {own['webhook_ratio']}, send path {own['send_ratio']}"
    )
    print(f"the setting took, every 200 stored: {result['switch_ok']}")
    print(f"1-minute load after each turn: {result['load_1min_after_each_turn']}")
    print(f"load average before {result['loadavg_before']}, after {result['loadavg_after']}")


def main() -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    parser = bench_parser(description, concurrency=[100])
    parser.add_argument("--messages", type=int, default=1000, help="sends per turn")
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in seconds per send")
    parser.add_argument("--repeat", type=int, default=4, help="pairs of send turns")
    parser.add_argument("--webhook-concurrency", type=int, default=16)
    parser.add_argument("--webhook-seconds", type=float, default=2.0, help="per view and turn")
    parser.add_argument("--webhook-repeat", type=int, default=5, help="pairs of webhook turns")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--part", choices=("send", "webhook", "overhead"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.concurrency = args.concurrency[0]
    if args.part == "send":
        result = send_part(args)
    elif args.part == "webhook":
        result = webhook_part(args)
    elif args.part == "overhead":
        result = overhead_part(args)
    else:
        result = measure(args)
        report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
