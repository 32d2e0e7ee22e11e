"""`manage.py doctor`: static checks, then live checks against the running system."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError, CommandParser

from config import discovery
from config.topology import WORKERS
from ops import doctor
from ops.doctor import Status

MARKS = {Status.OK: "ok  ", Status.WARN: "WARN", Status.FAIL: "FAIL"}


class Command(BaseCommand):
    help = "Check configuration drift, then the live broker, workers, queues and beat."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--timeout", type=float, default=3.0, help="Seconds to wait for worker replies."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        from config.celery import app

        self.stdout.write("Static checks (manage.py check):")
        call_command("check", fail_level="ERROR")
        self.stdout.write("\nLive checks:")
        findings = doctor.run(
            app,
            WORKERS,
            timeout=options["timeout"],
            canary_interval=settings.OPS_CANARY_INTERVAL_SECONDS,
            app_checks=discovery.doctor_checks(settings.INSTALLED_APPS),
        )
        style = {Status.OK: self.style.SUCCESS, Status.WARN: self.style.WARNING}
        for finding in findings:
            paint = style.get(finding.status, self.style.ERROR)
            self.stdout.write(
                paint(f"  [{MARKS[finding.status]}] {finding.subject}: {finding.detail}")
            )
            if finding.hint and finding.status is not Status.OK:
                self.stdout.write(f"         -> {finding.hint}")
        failures = [f for f in findings if f.status is Status.FAIL]
        if failures:
            names = ", ".join(sorted({f.subject for f in failures}))
            raise CommandError(f"{len(failures)} live check(s) failed: {names}")
        self.stdout.write(self.style.SUCCESS("\nAll live checks passed."))
