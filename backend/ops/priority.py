"""Prefork pool processes lower their CPU priority as they start (CELERY_PREFORK_NICE).

Only the pool's children: the parent, which receives and acknowledges messages, keeps its own.
Raising niceness needs no privilege, in a container or out. Why: docs/workers.md, "Priorities".
"""

from __future__ import annotations

import os
from typing import Any

from celery.signals import worker_process_init
from django.conf import settings


@worker_process_init.connect
def pool_process_nice(**_: Any) -> None:
    increment = settings.CELERY_PREFORK_NICE
    if increment:
        # os.nice adds to the current niceness; a parent already niced keeps that much more.
        os.nice(increment)
