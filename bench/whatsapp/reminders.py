"""The daily payment reminder for many contacts: paced to the number's level, held past the
messaging limit.

    .venv/bin/python bench/whatsapp/reminders.py [--contacts 10000] [--level 80] [--limits 0 2000]

--contacts contacts, none of whom wrote (every reminder is a template, each counting against the
messaging limit), each with a payment due in 3 days. Beat's task runs on one of two worker-io
nodes (the compose command, the second renamed), which send at --level messages a second. Per
messaging limit (0: unlimited): the time from the task's start to the last accepted message
against the ideal, contacts / level; what the stand-in, enforcing the level, the pair rule and
the same limit, refused; and how many messages ended sent, held and failed.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import IO, Any

# This folder, and bench/ (common): the benchmarks run as scripts.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import bench_parser, worker_start
from standin import whatsapp_setup

from devstack.standins._whatsapp_limits import Limits, MetaLimits
from devstack.standins.whatsapp import WhatsAppStandIn

PAIR_INTERVAL, PAIR_BURST = 6.0, 45
DUE_IN_DAYS = 3


def _fresh(standin: WhatsAppStandIn, level: int, limit: int | None) -> None:
    """No rows from an earlier case (its contacts would still count against the limit), the
    number's pace forgotten, the stand-in at the case's limits."""
    from django.conf import settings

    from ops.ratelimit import shared_redis
    from whatsapp.models import (
        Contact,
        InboundMessage,
        OutboundMessage,
        Payment,
        PaymentReminder,
        StatusEvent,
    )

    for model in (
        PaymentReminder,
        Payment,
        StatusEvent,
        OutboundMessage,
        InboundMessage,
        Contact,
    ):
        model.objects.all().delete()
    client = shared_redis(settings.REDIS_URL)
    for key in client.scan_iter("whatsapp:throughput:*"):
        client.delete(key)
    standin.reset()
    standin.meta = MetaLimits(
        Limits(level, pair_interval=PAIR_INTERVAL, pair_burst=PAIR_BURST, messaging_limit=limit)
    )


def _payments(count: int) -> None:
    import datetime as dt

    from django.utils import timezone

    from whatsapp.models import Contact, Payment

    contacts = Contact.objects.bulk_create(
        [Contact(wa_id=f"4700{n:06d}", profile_name="Ada") for n in range(count)],
        batch_size=1000,
    )
    due_on = timezone.localdate() + dt.timedelta(days=DUE_IN_DAYS)
    Payment.objects.bulk_create(
        [Payment(contact=contact, amount="€12.50", due_on=due_on) for contact in contacts],
        batch_size=1000,
    )


def _counts() -> dict[str, int]:
    from django.db.models import Count

    from whatsapp.models import OutboundMessage

    rows = OutboundMessage.objects.values("status").annotate(n=Count("pk"))
    return {row["status"]: row["n"] for row in rows}


def _last_reminder_at() -> float:
    from django.db.models import Max

    from whatsapp.models import PaymentReminder

    return PaymentReminder.objects.aggregate(last=Max("created_at"))["last"].timestamp()


def case(
    limit: int | None, args: argparse.Namespace, standin: WhatsAppStandIn, log: IO[str]
) -> dict[str, Any]:
    from config.celery import app
    from whatsapp.dispatch import PAYMENT_REMINDERS
    from whatsapp.models import PaymentReminder

    _fresh(standin, args.level, limit)
    _payments(args.contacts)
    expected_sent = args.contacts if limit is None else min(limit, args.contacts)
    env = {
        "WHATSAPP_MESSAGES_PER_SECOND": str(args.level),
        "WHATSAPP_MESSAGING_LIMIT": "unlimited" if limit is None else str(limit),
    }
    workers = [
        worker_start("worker-io", log, **env),
        worker_start("worker-io", log, instance="io-second", **env),
    ]
    try:
        started = time.time()
        app.send_task(PAYMENT_REMINDERS)
        standin.wait_for(expected_sent, timeout=expected_sent / args.level * 3 + 120)
        # The rest are held once each has been claimed (and none is left queued or sending).
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            counts = _counts()
            if counts.get("sent", 0) + counts.get("held", 0) + counts.get("failed", 0) == (
                args.contacts
            ):
                break
            time.sleep(0.5)
        time.sleep(2)  # anything sent late would show here
        counts = _counts()
        received = standin.delivered()
        queued_at = _last_reminder_at()
    finally:
        for worker in workers:
            worker.stop(20)
    accepted = sorted(r.at for r in received)
    seconds = accepted[-1] - started
    rate = (len(accepted) - 1) / (accepted[-1] - accepted[0])
    ideal = expected_sent / args.level
    result = {
        "messaging_limit": limit,
        "contacts": args.contacts,
        "level": args.level,
        "reminders": PaymentReminder.objects.count(),
        "accepted": len(accepted),
        "seconds": round(seconds, 1),
        "ideal_seconds": round(ideal, 1),
        "time_ratio": round(seconds / ideal, 3),
        # Where the time went: the first send, every reminder queued, the pace in between.
        "first_accepted_after": round(accepted[0] - started, 2),
        "queued_after": round(queued_at - started, 1),
        "rate": round(rate, 1),
        "sent": counts.get("sent", 0),
        "held": counts.get("held", 0),
        "failed": counts.get("failed", 0),
        "reached_at_standin": standin.reached(),
        "refusals": {str(k): v for k, v in standin.refusals().items()},
    }
    print(f"reminders, limit {limit or 'unlimited'}: {json.dumps(result)}", flush=True)
    return result


def measure(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
    standin, servers = whatsapp_setup(
        workdir,
        latency=args.latency,
        database_url=args.database_url,
        WHATSAPP_MESSAGES_PER_SECOND=str(args.level),
    )
    log = (workdir / "worker-io.log").open("w")
    try:
        cases = [case(limit or None, args, standin, log) for limit in args.limits]
    finally:
        log.close()
        standin.stop()
        servers.stop()
    return {"cases": cases, "latency": args.latency}


def main() -> int:
    description = __doc__.splitlines()[0] if __doc__ else None
    parser = bench_parser(description, concurrency=[100])
    parser.add_argument("--contacts", type=int, default=10_000)
    parser.add_argument("--level", type=int, default=80, help="the number's messages a second")
    parser.add_argument(
        "--limits", type=int, nargs="+", default=[0, 2000], help="messaging limits; 0: unlimited"
    )
    parser.add_argument("--latency", type=float, default=0.2, help="stand-in seconds per send")
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = parser.parse_args()
    result = measure(args)
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
