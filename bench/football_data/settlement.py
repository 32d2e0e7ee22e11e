"""Settlement throughput through a real prefork worker-cpu at concurrency 1 and 2, repeated, with
the worker's memory.

    .venv/bin/python bench/football_data/settlement.py [--tickets 20000] [--chunk-size 500]
        [--repeat 5] [--json PATH] [--timeout 300] [--database-url URL]

Starts a private redis-server and a private PostgreSQL (or uses --database-url, which must be a
database you can throw away: it is migrated and its tickets are replaced) and seeds matches that
are all decided and N open tickets on them. For each concurrency it starts worker-cpu once, with
the command from docker-compose.yml, and runs ``--repeat`` times: set every ticket open again,
enqueue settle_tickets once, time until every ticket is settled. The ratio is taken run by run
(run i at c=2 over run i at c=1); the median of those ratios is the figure (the machine is
shared: one run is noise).

Memory (bench/memory.py): RSS and PSS of the worker's process tree (the celery parent and its
prefork children, summed) idle after start, the peak while settling, and idle again one second
after each run; the same worker across its runs, so growth from run 1 to run N would show.

Prints a table; ``--json PATH`` writes every figure (docs/football_data.md is rendered from it).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

# This folder, and bench/ (common, memory): the benchmarks run as scripts.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_parser, bench_setup, worker_start
from memory import MemorySampler, cpu_seconds, memory_now

# After a run (or the start) the pool is left alone this long before idle memory is read.
SETTLE_SECONDS = 1.0


def main() -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    parser = bench_parser(description, concurrency=[1, 2])
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    parser.add_argument("--repeat", type=int, default=5, help="runs per concurrency (default 5)")
    parser.add_argument("--json", type=Path, default=None, help="write every figure here")
    args = parser.parse_args()
    if args.repeat < 1:
        parser.error("--repeat must be at least 1")

    workdir = Path(tempfile.mkdtemp(prefix="bench-settlement-"))
    servers = bench_setup(
        workdir,
        database_url=args.database_url,
        FOOTBALL_DATA_SETTLE_CHUNK_SIZE=str(args.chunk_size),
    )
    load_start = os.getloadavg()
    started = time.monotonic()
    try:
        database = _database()
        _seed(args.tickets)
        per_concurrency = {c: run_concurrency(c, args) for c in args.concurrency}
    finally:
        servers.stop()
    report = summarize(args, per_concurrency, database=database, load_start=load_start)
    report["wall_seconds"] = round(time.monotonic() - started, 1)
    print_report(report)
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


def _database() -> str:
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            return f"PostgreSQL {cursor.fetchone()[0].split()[0]}"
    return connection.vendor


def _tables() -> str:
    from django.db import connection

    from football_data.models import Match, Payout, Selection, Ticket

    models = (Payout, Selection, Ticket, Match)
    return ", ".join(connection.ops.quote_name(m._meta.db_table) for m in models)


def _seed(tickets: int) -> int:
    """Replace the matches and tickets with ``tickets`` open tickets on decided matches (once
    per benchmark; ``_reopen`` sets them back between runs, in a fraction of the time)."""
    from django.db import connection

    from devstack.standins.football_data import matches_payload
    from football_data.demo import demo_tickets_seed
    from football_data.models import Match, Payout, Selection, Ticket
    from football_data.services import matches_upsert

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"TRUNCATE {_tables()} CASCADE")
    else:
        for model in (Payout, Selection, Ticket, Match):
            model.objects.all().delete()
    matches_upsert(payload=matches_payload(days_back=60, days_ahead=0))
    return demo_tickets_seed(tickets=tickets, decided_only=True)


def _reopen() -> int:
    """Every ticket open and unclaimed again, every selection open, no payouts: the tickets state.

    On PostgreSQL the tables are then vacuumed and analysed: run N would otherwise scan the dead
    rows of runs 1..N-1, and with stale statistics the fan-out's claim query once took over a
    minute (its soft time limit).
    """
    from django.db import connection

    from config.celery import app
    from football_data.models import Payout, Selection, Ticket

    Payout.objects.all().delete()
    Selection.objects.update(result="open")
    tickets = Ticket.objects.update(
        status="open", payout=None, settled_at=None, settle_queued_at=None
    )
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(f"VACUUM ANALYZE {_tables()}")
    app.control.purge()
    return tickets


def run_concurrency(concurrency: int, args: argparse.Namespace) -> dict[str, Any]:
    """One worker-cpu at ``concurrency``, ``args.repeat`` settlements through it."""
    from football_data.models import Ticket
    from football_data.tasks import settle_tickets

    log_path = Path(tempfile.gettempdir()) / f"bench-worker-cpu-c{concurrency}.log"
    runs: list[dict[str, Any]] = []
    with log_path.open("w") as log:
        worker = worker_start("worker-cpu", log, WORKER_CPU_CONCURRENCY=str(concurrency))
        assert worker.popen is not None
        pid = worker.popen.pid  # the celery main process: the compose command runs directly
        try:
            time.sleep(SETTLE_SECONDS)
            idle = memory_now(pid)
            for number in range(1, args.repeat + 1):
                resetting = time.monotonic()
                tickets = _reopen()
                resetting = time.monotonic() - resetting
                load = os.getloadavg()[0]
                sampler = MemorySampler(pid).start()
                cpu = cpu_seconds(pid)
                started = time.monotonic()
                settle_tickets.delay()
                deadline = started + args.timeout
                while Ticket.objects.filter(status="open").exists():
                    if time.monotonic() > deadline:
                        raise SystemExit(
                            f"not settled within {args.timeout:.0f}s at c={concurrency}"
                        )
                    time.sleep(0.05)
                seconds = time.monotonic() - started
                cpu = cpu_seconds(pid) - cpu
                peak = sampler.stop()
                time.sleep(SETTLE_SECONDS)
                after = memory_now(pid)
                rate = tickets / seconds
                runs.append(
                    {
                        "run": number,
                        "tickets": tickets,
                        "seconds": round(seconds, 3),
                        "reset_seconds": round(resetting, 1),
                        "worker_cpu_seconds": round(cpu, 2),
                        "worker_cpu_ms_per_ticket": round(cpu * 1000 / tickets, 3),
                        "tickets_per_s": round(rate, 1),
                        "load_1m_before": round(load, 2),
                        "peak": peak.as_dict(),
                        "idle_after": after.as_dict(),
                    }
                )
                print(
                    f"c={concurrency} run {number}: {tickets} tickets in {seconds:.2f}s "
                    f"({rate:.0f}/s; reset in {resetting:.1f}s), load {load:.2f}, "
                    f"peak RSS {peak.rss_mib:.0f} MiB PSS {peak.pss_mib:.0f} MiB",
                    flush=True,
                )
        finally:
            worker.stop(20)
    return {"idle": idle.as_dict(), "runs": runs}


def summarize(
    args: argparse.Namespace,
    per_concurrency: dict[int, dict[str, Any]],
    *,
    database: str,
    load_start: tuple[float, float, float],
) -> dict[str, Any]:
    concurrency: dict[str, Any] = {}
    for number, figures in per_concurrency.items():
        runs = figures["runs"]
        first, last = runs[0]["idle_after"], runs[-1]["idle_after"]
        concurrency[str(number)] = {
            "idle": figures["idle"],
            "runs": runs,
            "median_tickets_per_s": round(statistics.median(r["tickets_per_s"] for r in runs), 1),
            "peak": {
                "rss_mib": max(r["peak"]["rss_mib"] for r in runs),
                "pss_mib": max(r["peak"]["pss_mib"] for r in runs),
            },
            "idle_after_first_run": first,
            "idle_after_last_run": last,
            "growth_first_to_last": {
                "rss_mib": round(last["rss_mib"] - first["rss_mib"], 1),
                "pss_mib": round(last["pss_mib"] - first["pss_mib"], 1),
            },
        }
    base_c = str(args.concurrency[0])
    base = concurrency[base_c]
    ratios: dict[str, Any] = {}
    for c, figures in concurrency.items():
        if c == base_c:
            continue
        per_run = [
            round(r["tickets_per_s"] / b["tickets_per_s"], 3)
            for r, b in zip(figures["runs"], base["runs"], strict=True)
        ]
        ratios[c] = {
            "per_run": per_run,
            "median": round(statistics.median(per_run), 3),
            "of_median_rates": round(
                figures["median_tickets_per_s"] / base["median_tickets_per_s"], 3
            ),
        }
    return {
        "benchmark": "settlement",
        "command": "python bench/football_data/settlement.py " + " ".join(sys.argv[1:]),
        "database": database,
        "worker": "worker-cpu, prefork (docker-compose.yml command)",
        "tickets": args.tickets,
        "chunk_size": args.chunk_size,
        "repeat": args.repeat,
        "base_concurrency": int(base_c),
        "machine": {
            "cpus": os.cpu_count(),
            "load_average_start": [round(x, 2) for x in load_start],
            "load_average_end": [round(x, 2) for x in os.getloadavg()],
        },
        "concurrency": concurrency,
        "ratios": ratios,
    }


def print_report(report: dict[str, Any]) -> None:
    base = report["base_concurrency"]
    print()
    print(
        f"settlement of {report['tickets']} tickets, chunks of {report['chunk_size']}, "
        f"{report['worker']}, {report['database']}, {report['machine']['cpus']} CPUs"
    )
    print(
        f"load average at start {report['machine']['load_average_start']}, "
        f"at end {report['machine']['load_average_end']}"
    )
    print()
    print(
        f"{'run':>4} {'c':>3} {'seconds':>8} {'tickets/s':>10} {'vs c=' + str(base):>8} "
        f"{'CPU ms/t':>8} {'load 1m':>8} {'peak RSS':>9} {'peak PSS':>9} "
        f"{'idle RSS':>9} {'idle PSS':>9}"
    )
    for c, figures in report["concurrency"].items():
        ratios = report["ratios"].get(c, {}).get("per_run")
        for i, run in enumerate(figures["runs"]):
            ratio = f"{ratios[i]:.2f}" if ratios else "1.00"
            print(
                f"{run['run']:>4} {c:>3} {run['seconds']:>8.2f} {run['tickets_per_s']:>10.0f} "
                f"{ratio:>8} {run['worker_cpu_ms_per_ticket']:>8.3f} "
                f"{run['load_1m_before']:>8.2f} {run['peak']['rss_mib']:>9.0f} "
                f"{run['peak']['pss_mib']:>9.0f} {run['idle_after']['rss_mib']:>9.0f} "
                f"{run['idle_after']['pss_mib']:>9.0f}"
            )
    print(
        "(CPU ms/t: the worker's CPU per ticket; memory in MiB, the worker's process tree;"
        " idle: one second after the run)"
    )
    print()
    for c, ratio in report["ratios"].items():
        print(
            f"c={c} vs c={base}: median of per-run ratios {ratio['median']:.2f} "
            f"(runs: {', '.join(f'{r:.2f}' for r in ratio['per_run'])}); "
            f"ratio of median rates {ratio['of_median_rates']:.2f}"
        )
    print()
    print(
        f"{'c':>3} {'idle RSS/PSS':>14} {'peak RSS/PSS':>14} {'after run 1':>14} "
        f"{'after run ' + str(report['repeat']):>14} {'growth RSS/PSS':>16}"
    )
    for c, figures in report["concurrency"].items():
        pairs = [
            figures["idle"],
            figures["peak"],
            figures["idle_after_first_run"],
            figures["idle_after_last_run"],
        ]
        cells = [f"{p['rss_mib']:.0f}/{p['pss_mib']:.0f}" for p in pairs]
        growth = figures["growth_first_to_last"]
        print(
            f"{c:>3} {cells[0]:>14} {cells[1]:>14} {cells[2]:>14} {cells[3]:>14} "
            f"{growth['rss_mib']:>+8.1f}/{growth['pss_mib']:+.1f}"
        )


if __name__ == "__main__":
    raise SystemExit(main())
