"""WhatsApp sends through a real gevent worker-io, against the physical ceiling.

    .venv/bin/python bench/io_throughput.py [--messages 2000] [--latency 0.2] [--concurrency 20 100]

Each message is a one-part reply to its own recipient (so per-recipient ordering never makes one
wait for another), created with the real service and sent by the real send_message task through
the WhatsApp stand-in, which answers after --latency seconds. A worker at concurrency c can at
best send c / latency messages per second; the table shows the rate reached and that ratio, and
the ratio between the concurrencies. All messages are queued before the worker starts; the rate
is measured between the first and the last request the stand-in received.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_parser, bench_setup, worker_start

from devstack.standins.whatsapp import WhatsAppStandIn

TOKEN = "bench-token"  # noqa: S105  (the stand-in's, not a secret)
PHONE_NUMBER_ID = "100000000000001"


def run(concurrency: int, args: argparse.Namespace, standin: WhatsAppStandIn) -> float:
    from config.celery import app
    from whatsapp.models import OutboundMessage
    from whatsapp.services import text_send_staggered

    OutboundMessage.objects.all().delete()
    standin.reset()
    standin.latency = args.latency
    app.control.purge()
    for number in range(args.messages):
        text_send_staggered(to=f"4470{concurrency:03d}{number:06d}", text=f"bench {number}")

    log = (Path(tempfile.gettempdir()) / f"bench-worker-io-c{concurrency}.log").open("w")
    worker = worker_start(
        "worker-io",
        log,
        WORKER_IO_CONCURRENCY=str(concurrency),
        WHATSAPP_HTTP_POOL_SIZE=str(concurrency),
    )
    try:
        received = standin.wait_for(args.messages, timeout=args.timeout)
    finally:
        worker.stop(20)
        log.close()
    times = sorted(r.at for r in received)
    seconds = times[-1] - times[0]
    rate = (len(times) - 1) / seconds
    print(f"c={concurrency}: {len(times)} sends in {seconds:.2f}s ({rate:.0f}/s)", flush=True)
    return rate


def main() -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    parser = bench_parser(description, concurrency=[20, 100])
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in seconds per send")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-io-"))
    standin = WhatsAppStandIn(
        access_token=TOKEN, phone_number_id=PHONE_NUMBER_ID, latency=args.latency
    ).start()
    servers = bench_setup(
        workdir,
        database_url=args.database_url,
        WHATSAPP_API_BASE_URL=standin.url,
        WHATSAPP_ACCESS_TOKEN=TOKEN,
        WHATSAPP_PHONE_NUMBER_ID=PHONE_NUMBER_ID,
    )
    try:
        rates = {c: run(c, args, standin) for c in args.concurrency}
    finally:
        standin.stop()
        servers.stop()
    print()
    print(f"{args.messages} WhatsApp sends, stand-in latency {args.latency}s, worker-io gevent")
    base = args.concurrency[0]
    print(
        f"{'concurrency':>12} {'sends/s':>9} {'ceiling':>8} {'of ceiling':>11} {f'vs c={base}':>8}"
    )
    for concurrency, rate in rates.items():
        ceiling = concurrency / args.latency
        print(
            f"{concurrency:>12} {rate:>9.0f} {ceiling:>8.0f} {rate / ceiling:>11.0%}"
            f" {rate / rates[base]:>8.2f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
