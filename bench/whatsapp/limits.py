"""WhatsApp at Meta's limits: broadcasts paced to the number's level, long replies to the pair rule.

    .venv/bin/python bench/whatsapp/limits.py [--broadcast 10000] [--replies 50] [--parts 22]

The WhatsApp stand-in enforces Meta's limits throughout (the number's level; the pair rule at
Meta's 6 s and 45) and counts every refusal.

- **broadcast**: --broadcast one-part messages to as many contacts, queued in one transaction
  and sent by two worker-io nodes (the compose command, the second renamed), once at 80 and
  once at 1,000 messages a second. The achieved rate is between the first and the last accepted
  message; "sustained" is the slowest 10 s window. The worker-io processes' CPU time gives the
  sends one core serves, and so the worker-io processes a 1,000 mps number needs.
- **rush**: with one worker-io node, then two (--rush-nodes), --replies replies of --parts parts
  to as many contacts while a CPU flood keeps both worker-cpu processes busy, then a second
  reply of as many parts to each --second-after s later. Each reply's last part is compared with
  the earliest moment the pair rule and the part spacing allow it, computed from when the reply
  was queued and when the contact's earlier parts arrived at the stand-in (whatsapp.pair, the
  app's own model; the stand-in is the referee).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

# This folder, and bench/ (common, memory): the benchmarks run as scripts.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_parser, worker_start
from memory import cpu_seconds
from stagger import percentile
from standin import users_wrote, whatsapp_setup

from devstack.processes import ServiceProcess
from devstack.standins._whatsapp_limits import Limits, MetaLimits
from devstack.standins.whatsapp import Received, WhatsAppStandIn

PAIR_INTERVAL, PAIR_BURST = 6.0, 45
WINDOW = 10.0  # seconds: the sustained rate is the slowest such window


def _numbers(count: int, prefix: str) -> list[str]:
    """The ``count`` contacts ``_queue`` replies to."""
    return [f"{prefix}{number:06d}" for number in range(count)]


def _queue(count: int, parts: int, prefix: str) -> float:
    """``count`` replies of ``parts`` parts to as many contacts, in one transaction; when they
    were committed (nothing can go before)."""
    from django.db import transaction

    from whatsapp.services import text_send_staggered

    text = "\n".join(f"part {n:02d} " + "x" * 4087 for n in range(1, parts + 1))
    with transaction.atomic():
        for to in _numbers(count, prefix):
            text_send_staggered(to=to, text=text if parts > 1 else "hi")
    return time.time()


def _limits(standin: WhatsAppStandIn, level: int) -> None:
    standin.reset()
    standin.meta = MetaLimits(Limits(level, pair_interval=PAIR_INTERVAL, pair_burst=PAIR_BURST))


def _pace_forget() -> None:
    """The number's pace in Redis starts fresh (a level changes with the run)."""
    from django.conf import settings

    from ops.ratelimit import shared_redis

    client = shared_redis(settings.REDIS_URL)
    for key in client.scan_iter("whatsapp:throughput:*"):
        client.delete(key)


def _sustained(accepted: list[float]) -> float:
    """The slowest rate over a whole WINDOW between the first and last accepted message."""
    first, last = accepted[0], accepted[-1]
    if last - first < 2 * WINDOW:
        return (len(accepted) - 1) / (last - first)
    counts = []
    start = first
    while start + WINDOW <= last:
        counts.append(sum(1 for at in accepted if start <= at < start + WINDOW))
        start += WINDOW
    return min(counts) / WINDOW


def broadcast(
    level: int, args: argparse.Namespace, standin: WhatsAppStandIn, log: IO[str]
) -> dict[str, Any]:
    _limits(standin, level)
    _pace_forget()
    prefix = f"45{level:04d}"
    # Each contact wrote first (their 24-hour windows open), before anything is measured.
    users_wrote(standin, _numbers(args.broadcast, prefix))
    env = {"WHATSAPP_MESSAGES_PER_SECOND": str(level)}
    workers = [
        worker_start("worker-io", log, **env),
        worker_start("worker-io", log, instance="io-second", **env),
    ]
    try:
        cpu_before = [cpu_seconds(w.pid) for w in workers]
        _queue(args.broadcast, 1, prefix)
        received = standin.wait_for(args.broadcast, timeout=args.broadcast / level * 3 + 120)
        cpu = sum(cpu_seconds(w.pid) - b for w, b in zip(workers, cpu_before, strict=True))
    finally:
        for worker in workers:
            worker.stop(20)
    accepted = sorted(r.at for r in received if r.wamid)
    rate = (len(accepted) - 1) / (accepted[-1] - accepted[0])
    per_core = len(accepted) / cpu
    result = {
        "level": level,
        "messages": args.broadcast,
        "accepted": len(accepted),
        "seconds": round(accepted[-1] - accepted[0], 1),
        "rate": round(rate, 1),
        "sustained_rate": round(_sustained(accepted), 1),
        "refusals": {str(k): v for k, v in standin.refusals().items()},
        "worker_cpu_seconds": round(cpu, 1),
        "sends_per_core_second": round(per_core),
        "workers_for_1000": math.ceil(1000 / per_core),
    }
    print(f"broadcast at {level}/s: {json.dumps(result)}", flush=True)
    return result


def _replies(received: list[Received], prefix: str) -> dict[str, list[Received]]:
    by_contact: dict[str, list[Received]] = defaultdict(list)
    for request in received:
        if request.wamid and request.to.startswith(prefix):
            by_contact[request.to].append(request)
    for requests in by_contact.values():
        requests.sort(key=lambda r: r.at)
    return by_contact


def _lateness(
    by_contact: dict[str, list[Received]], parts: int, queued: list[float], spacing: float
) -> tuple[list[list[float]], list[list[int]], int]:
    """Per reply round, each reply's last part minus the earliest moment the rule and the
    spacing allow it, and the bursts it went in; and how many contacts got every part in
    order."""
    from whatsapp.pair import PairRule

    rule = PairRule(dt.timedelta(seconds=PAIR_INTERVAL), PAIR_BURST)
    step = dt.timedelta(seconds=spacing)
    late: list[list[float]] = [[] for _ in queued]
    bursts: list[list[int]] = [[] for _ in queued]
    in_order = 0
    for requests in by_contact.values():
        numbers = [int(r.body[5:7]) for r in requests]
        in_order += numbers == list(range(1, parts + 1)) * len(queued)
        state = None
        for round_number, queued_at in enumerate(queued):
            arrivals = requests[round_number * parts : (round_number + 1) * parts]
            start = dt.datetime.fromtimestamp(queued_at, dt.UTC)
            earliest = rule.plan(state, start=start, parts=parts, spacing=step)[-1][0]
            late[round_number].append(arrivals[-1].at - earliest.timestamp())
            opened = 0
            for arrival in arrivals:
                at = dt.datetime.fromtimestamp(arrival.at, dt.UTC)
                opened += rule.window_end(state, at) is None
                state = rule.after(state, requested_at=at, answered_at=at)
            bursts[round_number].append(opened)
    return late, bursts, in_order


def rush(
    args: argparse.Namespace, standin: WhatsAppStandIn, logs: Mapping[str, IO[str]], nodes: int
) -> dict[str, Any]:
    import cpu_flood
    from django.conf import settings

    from config.celery import app

    _limits(standin, 1000)
    _pace_forget()
    prefix = "4600"
    # Each contact wrote first (their 24-hour windows open), before anything is measured.
    users_wrote(standin, _numbers(args.replies, prefix))
    standin.latency = args.latency
    workers: dict[str, ServiceProcess] = {}
    try:
        workers["worker-io"] = worker_start("worker-io", logs["io"])
        for node in range(2, nodes + 1):
            workers[f"io-{node}"] = worker_start("worker-io", logs["io"], instance=f"io-{node}")
        workers["worker-cpu"] = worker_start(
            "worker-cpu",
            logs["cpu"],
            extra_args=("--include", "cpu_flood"),
            PYTHONPATH=str(Path(__file__).resolve().parent),
            WORKER_CPU_CONCURRENCY="2",
        )
        # Both processes busy for the whole phase: twice as many tasks as processes.
        phase_seconds = args.second_after + args.parts * PAIR_INTERVAL + 30
        for _ in range(4):
            app.send_task(cpu_flood.NAME, args=[phase_seconds / 2], queue="cpu")
        time.sleep(3)
        queued = [_queue(args.replies, args.parts, prefix)]
        time.sleep(max(0.0, queued[0] + args.second_after - time.time()))
        queued.append(_queue(args.replies, args.parts, prefix))
        total = 2 * args.replies * args.parts
        received = standin.wait_for(total, timeout=args.parts * PAIR_INTERVAL + 120)
        app.control.purge()
    finally:
        for worker in workers.values():
            worker.stop(20)
    by_contact = _replies(received, prefix)
    spacing = settings.WHATSAPP_PART_SPACING_SECONDS
    late, bursts, in_order = _lateness(by_contact, args.parts, queued, spacing)
    delivered = sum(len(r) for r in by_contact.values())
    result = {
        "worker_io_nodes": nodes,
        "replies": args.replies,
        "parts": args.parts,
        "second_after": args.second_after,
        "latency": args.latency,
        "spacing": spacing,
        "delivered": delivered,
        "expected": total,
        "contacts_in_order": in_order,
        "refusals": {str(k): v for k, v in standin.refusals().items()},
        "rounds": [
            {
                "p50_s": round(percentile(values, 50), 2),
                "max_s": round(max(values), 2),
                "min_s": round(min(values), 2),
                "within_1_s": sum(1 for v in values if v <= 1.0),
                "one_burst": sum(1 for n in opened if n == 1),
                "most_bursts": max(opened),
            }
            for values, opened in zip(late, bursts, strict=True)
        ],
    }
    print(f"rush: {json.dumps(result)}", flush=True)
    return result


def measure(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-limits-"))
    standin, servers = whatsapp_setup(workdir, latency=args.latency, database_url=args.database_url)
    logs = {n: (workdir / f"worker-{n}.log").open("w") for n in ("io", "cpu")}
    try:
        result = {
            "broadcast": [broadcast(level, args, standin, logs["io"]) for level in args.levels],
            "rush": [rush(args, standin, logs, nodes) for nodes in args.rush_nodes],
        }
    finally:
        for log in logs.values():
            log.close()
        standin.stop()
        servers.stop()
    return result


def main() -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    parser = bench_parser(description, concurrency=[100])
    parser.add_argument("--broadcast", type=int, default=10_000)
    parser.add_argument("--levels", type=int, nargs="+", default=[80, 1000])
    parser.add_argument("--replies", type=int, default=50)
    parser.add_argument("--parts", type=int, default=22)
    parser.add_argument("--second-after", type=float, default=30.0)
    parser.add_argument("--rush-nodes", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in seconds per send")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
