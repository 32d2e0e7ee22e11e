"""Staggered delivery and isolation: a rush of long replies, with and without a CPU flood.

    .venv/bin/python bench/whatsapp/stagger.py [--replies 50] [--parts 22] [--flood-seconds 75]

Starts worker-io and worker-cpu with their docker-compose.yml commands (worker-cpu also loads
cpu_flood.py, beside this script) and the WhatsApp stand-in answering after --latency seconds.
Each phase, once without and once with the flood:

- **isolation**: for --probe-seconds, a one-part reply to a new contact every --probe-interval
  seconds; latency is from just before it is queued to the moment the stand-in receives it;
- **rush**: --replies replies of --parts parts each (WHATSAPP_PART_SPACING_SECONDS apart), to as
  many contacts, queued in one transaction; the probes go on meanwhile. A part's skew is
  |received - (its reply's first part received + n x spacing)|.

The flood fills the ``cpu`` queue with tasks that keep both worker-cpu processes busy for
--flood-seconds, more than the whole phase.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

# This folder, and bench/ (common, memory): the benchmarks run as scripts.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_parser, worker_start
from memory import MemorySampler, cpu_seconds, memory_now
from standin import users_wrote, whatsapp_setup

from devstack.processes import ServiceProcess
from devstack.standins.whatsapp import Received, WhatsAppStandIn

PART = 4096  # characters: one text part


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank; 0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def _ms(values: list[float]) -> dict[str, float]:
    return {
        "count": len(values),
        "p50_ms": round(percentile(values, 50) * 1000, 1),
        "p99_ms": round(percentile(values, 99) * 1000, 1),
        "max_ms": round(max(values, default=0.0) * 1000, 1),
    }


class Prober:
    """One-part replies to new contacts at a steady pace, from a thread of their own.

    The contacts wrote first (their 24-hour windows open): those of ``seconds`` of probes on
    start(), before anything is timed, and as many again whenever it runs longer."""

    def __init__(
        self, interval: float, prefix: str, standin: WhatsAppStandIn, seconds: float
    ) -> None:
        self.interval = interval
        self.prefix = prefix
        self.sent: dict[str, float] = {}
        self._standin = standin
        self._ahead = math.ceil(seconds / interval) + 1
        self._opened = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _number(self, number: int) -> str:
        return f"{self.prefix}{number:06d}"

    def _windows_open(self) -> None:
        """The next ``_ahead`` contacts wrote."""
        first, self._opened = self._opened, self._opened + self._ahead
        users_wrote(self._standin, (self._number(n) for n in range(first, self._opened)))

    def start(self) -> Prober:
        self._windows_open()
        self._thread.start()
        return self

    def _run(self) -> None:
        from django.db import connection

        from whatsapp.services import text_send_staggered

        number = 0
        next_at = time.monotonic()
        while not self._stop.is_set():
            if number >= self._opened:
                self._windows_open()  # before the probe's time is taken
            to = self._number(number)
            queued_at = time.time()
            text_send_staggered(to=to, text=f"probe {number}")
            self.sent[to] = queued_at
            number += 1
            next_at += self.interval
            self._stop.wait(max(0.0, next_at - time.monotonic()))
        connection.close()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def latencies(self, received: list[Received]) -> list[float]:
        arrived = {r.to: r.at for r in received if r.to in self.sent}
        missing = set(self.sent) - set(arrived)
        if missing:
            raise SystemExit(f"{len(missing)} probe(s) never arrived")
        return [arrived[to] - queued for to, queued in self.sent.items()]


def _rush_numbers(replies: int, prefix: str) -> list[str]:
    """The contacts ``_rush_queue`` replies to."""
    return [f"{prefix}{reply:06d}" for reply in range(replies)]


def _rush_queue(replies: int, parts: int, prefix: str) -> None:
    from django.db import transaction

    from whatsapp.services import text_send_staggered

    text = "\n".join(f"part {n:02d} " + "x" * (PART - 9) for n in range(parts))
    with transaction.atomic():
        for to in _rush_numbers(replies, prefix):
            text_send_staggered(to=to, text=text)


def _rush_result(
    received: list[Received], replies: int, parts: int, prefix: str, spacing: float
) -> dict[str, Any]:
    by_contact: dict[str, list[Received]] = defaultdict(list)
    for request in received:
        if request.to.startswith(prefix):
            by_contact[request.to].append(request)
    skews: list[float] = []
    in_order = duplicated = 0
    for requests in by_contact.values():
        requests.sort(key=lambda r: r.at)
        numbers = [int(r.body[5:7]) for r in requests]
        in_order += numbers == sorted(set(numbers))
        duplicated += len(numbers) - len(set(numbers))
        first = requests[0].at
        skews += [abs(r.at - (first + n * spacing)) for n, r in enumerate(requests) if n]
    delivered = sum(len(r) for r in by_contact.values())
    return {
        "parts": replies * parts,
        "delivered": delivered,
        "duplicated": duplicated,
        "replies_in_order": in_order,
        "skew": _ms(skews),
    }


def phase(
    name: str,
    args: argparse.Namespace,
    standin: WhatsAppStandIn,
    workers: dict[str, ServiceProcess],
    *,
    flood: bool,
) -> dict[str, Any]:
    import cpu_flood
    from django.conf import settings

    from config.celery import app

    standin.reset()
    standin.latency = args.latency
    tag = "1" if flood else "2"
    if flood:
        # Both processes busy for the whole phase: twice as many tasks as processes, back to back.
        per_task = args.flood_seconds / 4
        for _ in range(8):
            app.send_task(cpu_flood.NAME, args=[per_task], queue="cpu")
        time.sleep(3)  # both processes are burning before anything is measured
    cpu_before = cpu_seconds(workers["worker-cpu"].pid)

    prober = Prober(args.probe_interval, f"44{tag}1", standin, args.probe_seconds).start()
    time.sleep(args.probe_seconds)
    prober.stop()
    alone = prober.latencies(standin.wait_for(len(prober.sent), timeout=30))

    samplers = {n: MemorySampler(w.pid).start() for n, w in workers.items()}
    standin.reset()
    standin.latency = args.latency
    rush_prefix = f"44{tag}2"
    spacing = settings.WHATSAPP_PART_SPACING_SECONDS
    rush_probing = (args.parts - 1) * spacing + 1
    # The rush's contacts wrote first (the stand-in forgot every window on reset()); the
    # probes' do as their prober starts, with a margin for queueing the rush.
    users_wrote(standin, _rush_numbers(args.replies, rush_prefix))
    prober = Prober(args.probe_interval, f"44{tag}3", standin, rush_probing + 10).start()
    started = time.monotonic()
    _rush_queue(args.replies, args.parts, rush_prefix)
    time.sleep(rush_probing)
    prober.stop()
    total = args.replies * args.parts + len(prober.sent)
    # A burst the worker could not carry through its window waits for the time it borrowed.
    received = standin.wait_for(total, timeout=60 + args.parts * 6)
    rush_seconds = time.monotonic() - started
    during = prober.latencies(received)
    cpu_busy = (cpu_seconds(workers["worker-cpu"].pid) - cpu_before) / (time.monotonic() - started)
    peaks = {n: s.stop() for n, s in samplers.items()}
    result = {
        "flood": flood,
        "isolation_alone": _ms(alone),
        "isolation_during_rush": _ms(during),
        "rush": _rush_result(received, args.replies, args.parts, rush_prefix, spacing),
        "rush_seconds": round(rush_seconds, 1),
        "worker_cpu_cores_busy": round(cpu_busy, 2),
        "peak": {n: p.as_dict() for n, p in peaks.items()},
    }
    rush = result["rush"]
    print(
        f"{name}: isolation p50/p99 {result['isolation_alone']['p50_ms']}/"
        f"{result['isolation_alone']['p99_ms']} ms, during the rush "
        f"{result['isolation_during_rush']['p50_ms']}/{result['isolation_during_rush']['p99_ms']}"
        f" ms; rush {rush['delivered']}/{rush['parts']} parts, {rush['replies_in_order']} replies"
        f" in order, skew p50/p99/max {rush['skew']['p50_ms']}/{rush['skew']['p99_ms']}/"
        f"{rush['skew']['max_ms']} ms; worker-cpu busy {cpu_busy:.2f} cores",
        flush=True,
    )
    if flood:
        app.control.purge()
    return result


def warm_up(args: argparse.Namespace, standin: WhatsAppStandIn) -> None:
    """As many one-part replies as the rush has replies, at once: worker-io's connections to the
    API are then open, as in steady state (a first burst would time TCP connects instead)."""
    users_wrote(standin, _rush_numbers(args.replies, "449"))
    _rush_queue(args.replies, 1, "449")
    standin.wait_for(args.replies, timeout=60)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    standin, servers = whatsapp_setup(
        Path(tempfile.mkdtemp(prefix="bench-stagger-")),
        latency=args.latency,
        database_url=args.database_url,
    )
    logs = {
        n: (Path(tempfile.gettempdir()) / f"bench-stagger-{n}.log").open("w") for n in ("io", "cpu")
    }
    workers: dict[str, ServiceProcess] = {}
    try:
        workers["worker-io"] = worker_start("worker-io", logs["io"])
        workers["worker-cpu"] = worker_start(
            "worker-cpu",
            logs["cpu"],
            extra_args=("--include", "cpu_flood"),
            PYTHONPATH=str(Path(__file__).resolve().parent),
            WORKER_CPU_CONCURRENCY="2",
        )
        idle = {n: memory_now(w.pid) for n, w in workers.items()}
        warm_up(args, standin)
        phases = {
            "quiet": phase("no flood", args, standin, workers, flood=False),
            "flood": phase("CPU flood", args, standin, workers, flood=True),
        }
    finally:
        for worker in workers.values():
            worker.stop(20)
        for log in logs.values():
            log.close()
        standin.stop()
        servers.stop()
    from django.conf import settings

    return {
        "replies": args.replies,
        "parts": args.parts,
        "spacing": settings.WHATSAPP_PART_SPACING_SECONDS,
        "latency": args.latency,
        "probe_interval": args.probe_interval,
        "idle": {n: m.as_dict() for n, m in idle.items()},
        **phases,
    }


def main() -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    parser = bench_parser(description, concurrency=[100])
    parser.add_argument("--replies", type=int, default=50)
    parser.add_argument("--parts", type=int, default=22)
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in seconds per send")
    parser.add_argument("--probe-interval", type=float, default=0.2)
    parser.add_argument("--probe-seconds", type=float, default=10.0)
    parser.add_argument("--flood-seconds", type=float, default=75.0)
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
