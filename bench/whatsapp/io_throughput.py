"""WhatsApp sends through a real worker-io, side by side with a bare Celery task, against the limit.

    .venv/bin/python bench/whatsapp/io_throughput.py [--messages 2000] [--latency 0.2] [--repeat 2]

Each message is a one-part reply to its own recipient (so per-recipient ordering never makes one
wait for another), created with the real service and sent by the real send_message task through
the WhatsApp stand-in, which answers after --latency seconds. The same number of sends then goes
through bare_send.py (on bench/bare_app.py): what a user would write by hand, with no database.
Every configuration runs --repeat times, interleaved, so a ratio compares runs taken moments
apart. A worker at concurrency c can at best send c / latency messages per second.

For each run: sends per second (between the first and the last request the stand-in received),
the worker's CPU time per send, and, for the project, the SQL statements per send (PostgreSQL's
pg_stat_statements).
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
from collections.abc import Callable
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

# This folder, and bench/ (common, memory): the benchmarks run as scripts.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bare_worker_start, bench_parser, worker_start
from memory import MemorySampler, cpu_seconds, memory_now
from standin import STANDIN_TOKEN, users_wrote, whatsapp_setup

from devstack.standins.whatsapp import WhatsAppStandIn


@dataclass(frozen=True)
class Config:
    name: str
    app: str  # "project" or "bare"
    pool: str


CONFIGS = (
    Config("project send_message, gevent (shipped)", "project", "gevent"),
    Config("project send_message, threads", "project", "threads"),
    Config("bare Celery task, gevent", "bare", "gevent"),
)


@dataclass(frozen=True)
class Run:
    config: str
    sends: int
    seconds: float
    rate: float
    cpu_ms_per_send: float
    statements_per_send: float | None
    idle_rss_mib: float
    peak_rss_mib: float
    peak_pss_mib: float


def _statements_reset() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_statements_reset()")


def _statements() -> dict[str, int]:
    """Calls per statement since the last reset, by the statement's first words."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT query, calls FROM pg_stat_statements"
            " WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())"
        )
        rows = cursor.fetchall()
    return {query: calls for query, calls in rows}


def _recipients(args: argparse.Namespace, run_number: int) -> list[str]:
    """A run's recipients, one a message."""
    return [f"44{run_number:03d}{number:07d}" for number in range(args.messages)]


def _project_prepare(
    args: argparse.Namespace, run_number: int, standin: WhatsAppStandIn
) -> list[Callable[[], None]]:
    """The replies' rows, committed, and their wake-ups held back to be published at once; each
    recipient wrote first (their 24-hour window open at the app and the stand-in).

    The tables are vacuumed and analyzed first, as autovacuum keeps them in service: after a
    run's rows are deleted and as many inserted, the planner's statistics are stale and the
    claim's plan, and so the rate, degrades from one repetition to the next."""
    from unittest import mock

    from django.db import connection, transaction

    from whatsapp import dispatch
    from whatsapp.services import text_send_staggered

    recipients = _recipients(args, run_number)
    users_wrote(standin, recipients)
    # One transaction, so no sweep takes a row for lost while the rest are created; the
    # wake-ups are held back and published below, at once.
    with transaction.atomic(), mock.patch.object(dispatch, "message_send_on_commit"):
        first_parts = [
            text_send_staggered(to=to, text=f"bench {number}")[0]
            for number, to in enumerate(recipients)
        ]
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
    return [partial(dispatch.message_send_on_commit, message_id=pk) for pk in first_parts]


def _bare_prepare(
    args: argparse.Namespace, run_number: int, standin: WhatsAppStandIn
) -> list[Callable[[], None]]:
    """The bare sends, to recipients who wrote (at the stand-in: the bare task has no
    database)."""
    import bare_send

    recipients = _recipients(args, run_number)
    for to in recipients:
        standin.open_window(to)
    return [
        partial(bare_send.send.delay, to, f"bench {n}", f"bare:{n}")
        for n, to in enumerate(recipients)
    ]


def run(config: Config, args: argparse.Namespace, standin: WhatsAppStandIn, run_number: int) -> Run:
    from config.celery import app
    from whatsapp.models import OutboundMessage

    OutboundMessage.objects.all().delete()
    standin.reset()
    app.control.purge()
    log = (Path(tempfile.gettempdir()) / f"bench-io-{config.app}-{config.pool}.log").open("w")
    # The worker starts first: its on-connect sweep would take queued rows for lost ones.
    if config.app == "project":
        command_edit = None if config.pool == "gevent" else ("gevent", config.pool)
        worker = worker_start(
            "worker-io",
            log,
            command_edit=command_edit,
            WORKER_IO_CONCURRENCY=str(args.concurrency),
            WHATSAPP_HTTP_POOL_SIZE=str(args.concurrency),
        )
    else:
        os.environ["BARE_BROKER_URL"] = app.conf.broker_url
        bare_send = Path(__file__).resolve().parent / "bare_send.py"
        worker = bare_worker_start(log, concurrency=args.concurrency, include=(bare_send,))
    try:
        if config.app == "project":
            wake_ups = _project_prepare(args, run_number, standin)
        else:
            wake_ups = _bare_prepare(args, run_number, standin)
        _statements_reset()
        idle = memory_now(worker.pid)
        sampler = MemorySampler(worker.pid).start()
        cpu_before = cpu_seconds(worker.pid)
        for wake_up in wake_ups:
            wake_up()
        received = standin.wait_for(args.messages, timeout=args.timeout)
        cpu = cpu_seconds(worker.pid) - cpu_before
        peak = sampler.stop()
    finally:
        worker.stop(20)
        log.close()
    times = sorted(r.at for r in received)
    seconds = times[-1] - times[0]
    statements = None
    if config.app == "project":
        time.sleep(1.5)  # backends report their counts when idle
        counts = _statements()
        statements = sum(counts.values()) / len(times)
        for query, calls in sorted(counts.items(), key=lambda item: -item[1])[:4]:
            print(f"  {calls / len(times):6.2f}/send  {' '.join(query.split())[:110]}")
    result = Run(
        config=config.name,
        sends=len(times),
        seconds=round(seconds, 2),
        rate=round((len(times) - 1) / seconds, 1),
        cpu_ms_per_send=round(cpu * 1000 / len(times), 2),
        statements_per_send=None if statements is None else round(statements, 2),
        idle_rss_mib=round(idle.rss_mib, 1),
        peak_rss_mib=round(peak.rss_mib, 1),
        peak_pss_mib=round(peak.pss_mib, 1),
    )
    print(
        f"{config.name}: {result.sends} sends in {result.seconds}s ({result.rate:.0f}/s), "
        f"{result.cpu_ms_per_send} ms CPU/send, statements/send {result.statements_per_send}",
        flush=True,
    )
    return result


def measure(args: argparse.Namespace) -> dict[str, object]:
    """Each repetition in a process of its own, with its own Redis, PostgreSQL and stand-in:
    the same servers carried over from one repetition to the next made the second slower."""
    runs: list[dict[str, Any]] = []
    growth: dict[str, object] = {}
    for repetition in range(args.repeat + 1):
        last = repetition == args.repeat  # the memory rounds, alone
        with tempfile.NamedTemporaryFile(suffix=".json") as out:
            command = [sys.executable, __file__, "--once", str(repetition), "--json", out.name]
            command += ["--messages", str(args.messages), "--latency", str(args.latency)]
            command += ["--concurrency", str(args.concurrency), "--rounds", str(args.rounds)]
            command += ["--timeout", str(args.timeout), "--repeat", "0" if last else "1"]
            if args.database_url:
                command += ["--database-url", args.database_url]
            subprocess.run(command, check=True)
            once = json.loads(Path(out.name).read_text())
        runs += once["runs"]
        growth = once.get("memory_rounds") or growth
    return {**summarize([Run(**r) for r in runs], args), "memory_rounds": growth}


def measure_once(args: argparse.Namespace) -> dict[str, object]:
    standin, servers = whatsapp_setup(
        Path(tempfile.mkdtemp(prefix="bench-io-")),
        latency=args.latency,
        database_url=args.database_url,
    )
    from django.db import connection

    from whatsapp.client import get_client

    with connection.cursor() as cursor:
        cursor.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
    os.environ.update(
        BARE_API_URL=get_client().messages_url,
        BARE_TOKEN=STANDIN_TOKEN,
        BARE_POOL_SIZE=str(args.concurrency),
    )
    runs: list[Run] = []
    growth: dict[str, object] = {}
    try:
        if args.repeat:
            for number, config in enumerate(CONFIGS):
                runs.append(run(config, args, standin, args.once * len(CONFIGS) + number))
        else:
            growth = memory_rounds(args, standin)
    finally:
        standin.stop()
        servers.stop()
    return {"runs": [asdict(r) for r in runs], "memory_rounds": growth}


def memory_rounds(args: argparse.Namespace, standin: WhatsAppStandIn) -> dict[str, object]:
    """One shipped worker-io through --rounds batches of sends: its RSS after each, to show
    whether it grows."""
    from config.celery import app
    from whatsapp.models import OutboundMessage

    app.control.purge()
    log = (Path(tempfile.gettempdir()) / "bench-io-rounds.log").open("w")
    worker = worker_start(
        "worker-io",
        log,
        WORKER_IO_CONCURRENCY=str(args.concurrency),
        WHATSAPP_HTTP_POOL_SIZE=str(args.concurrency),
    )
    after: list[float] = []
    try:
        idle = memory_now(worker.pid)
        for number in range(args.rounds):
            OutboundMessage.objects.all().delete()
            standin.reset()
            standin.latency = args.latency
            for wake_up in _project_prepare(args, 100 + number, standin):
                wake_up()
            standin.wait_for(args.messages, timeout=args.timeout)
            time.sleep(1)
            after.append(round(memory_now(worker.pid).rss_mib, 1))
    finally:
        worker.stop(20)
        log.close()
    print(f"worker-io RSS: idle {idle.rss_mib} MiB, after each round {after}", flush=True)
    return {
        "sends_per_round": args.messages,
        "idle_rss_mib": round(idle.rss_mib, 1),
        "rss_mib": after,
    }


def summarize(runs: list[Run], args: argparse.Namespace) -> dict[str, object]:
    bare = [r.rate for r in runs if r.config == CONFIGS[-1].name]
    configs = []
    for config in CONFIGS:
        mine = [r for r in runs if r.config == config.name]
        # Each repetition's ratio to the bare run of the same repetition.
        ratios = [r.rate / b for r, b in zip(mine, bare, strict=True)]
        statements = [r.statements_per_send for r in mine if r.statements_per_send is not None]
        configs.append(
            {
                "name": config.name,
                "rates": [r.rate for r in mine],
                "cpu_ms_per_send": [r.cpu_ms_per_send for r in mine],
                "statements_per_send": max(statements) if statements else None,
                "vs_bare": [round(x, 2) for x in ratios],
                "vs_bare_median": round(statistics.median(ratios), 2),
                "idle_rss_mib": [r.idle_rss_mib for r in mine],
                "peak_rss_mib": [r.peak_rss_mib for r in mine],
                "peak_pss_mib": [r.peak_pss_mib for r in mine],
            }
        )
    return {
        "messages": args.messages,
        "latency": args.latency,
        "concurrency": args.concurrency,
        "repeat": args.repeat,
        "limit": args.concurrency / args.latency,
        "configs": configs,
        "runs": [asdict(r) for r in runs],
    }


def report(result: dict[str, object]) -> None:
    print()
    print(
        f"{result['messages']} one-part sends, stand-in latency {result['latency']} s, "
        f"-c {result['concurrency']}, limit {result['limit']:.0f}/s"
    )
    print(
        f"{'configuration':<40} {'sends/s':>13} {'CPU ms/send':>13} {'SQL/send':>9} {'vs bare':>11}"
    )
    for c in result["configs"]:  # type: ignore[attr-defined]
        rates = f"{min(c['rates']):.0f}-{max(c['rates']):.0f}"
        cpu = f"{min(c['cpu_ms_per_send']):.1f}-{max(c['cpu_ms_per_send']):.1f}"
        sql = "-" if c["statements_per_send"] is None else f"{c['statements_per_send']:.1f}"
        ratios = f"{min(c['vs_bare']):.2f}-{max(c['vs_bare']):.2f}"
        print(f"{c['name']:<40} {rates:>13} {cpu:>13} {sql:>9} {ratios:>11}")


def main() -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    parser = bench_parser(description, concurrency=[100])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in seconds per send")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the memory check")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--once", type=int, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.concurrency = args.concurrency[0]
    if args.once is not None:  # one repetition (or, with --repeat 0, the memory rounds)
        result = measure_once(args)
    else:
        result = measure(args)
        report(result)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
