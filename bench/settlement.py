"""Settlement throughput through a real prefork worker-cpu, at concurrency 1 and 2.

    .venv/bin/python bench/settlement.py [--tickets 20000] [--chunk-size 500] [--timeout 300]

Starts a private redis-server and a throwaway SQLite database (or --database-url, which must be
a database you can throw away: it is migrated and its tickets are replaced), seeds matches that
are all decided and N open tickets on them, then for each concurrency starts worker-cpu with the
command from docker-compose.yml, enqueues settle_tickets once and times until every ticket is
settled. Prints tickets per second side by side, with the ratio.

SQLite allows one writer at a time, so concurrency 2 mostly overlaps the reading and the rule
evaluation of one chunk with the writes of another; on Postgres the chunks write in parallel.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_parser, bench_setup, worker_start


def main() -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    parser = bench_parser(description, concurrency=[1, 2])
    parser.add_argument("--tickets", type=int, default=20_000)
    parser.add_argument("--chunk-size", type=int, default=500)
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-settlement-"))
    servers = bench_setup(
        workdir,
        database_url=args.database_url,
        FOOTBALL_DATA_SETTLE_CHUNK_SIZE=str(args.chunk_size),
    )
    try:
        results = {c: run(c, args) for c in args.concurrency}
    finally:
        servers.stop()
    print()
    print(f"settlement of {args.tickets} tickets, chunks of {args.chunk_size}, worker-cpu prefork")
    ratio_header = f"vs c={args.concurrency[0]}"
    print(f"{'concurrency':>12} {'seconds':>9} {'tickets/s':>10} {ratio_header:>8}")
    base = results[args.concurrency[0]][1]
    for concurrency, (seconds, rate) in results.items():
        print(f"{concurrency:>12} {seconds:>9.2f} {rate:>10.0f} {rate / base:>8.2f}")
    return 0


def run(concurrency: int, args: argparse.Namespace) -> tuple[float, float]:
    from config.celery import app
    from football_data.demo import demo_matches_seed, demo_tickets_seed
    from football_data.models import Match, Payout, Selection, Ticket
    from football_data.tasks import settle_tickets

    Payout.objects.all().delete()
    Selection.objects.all().delete()
    Ticket.objects.all().delete()
    Match.objects.all().delete()
    demo_matches_seed(days_back=60, days_ahead=0)
    seeded = demo_tickets_seed(tickets=args.tickets, decided_only=True)
    app.control.purge()

    log = (Path(tempfile.gettempdir()) / f"bench-worker-cpu-c{concurrency}.log").open("w")
    worker = worker_start("worker-cpu", log, WORKER_CPU_CONCURRENCY=str(concurrency))
    try:
        started = time.monotonic()
        settle_tickets.delay()
        deadline = started + args.timeout
        while Ticket.objects.filter(status="open").exists():
            if time.monotonic() > deadline:
                raise SystemExit(f"not settled within {args.timeout:.0f}s at c={concurrency}")
            time.sleep(0.05)
        seconds = time.monotonic() - started
    finally:
        worker.stop(20)
        log.close()
    rate = seeded / seconds
    print(f"c={concurrency}: {seeded} tickets settled in {seconds:.2f}s ({rate:.0f}/s)", flush=True)
    return seconds, rate


if __name__ == "__main__":
    raise SystemExit(main())
