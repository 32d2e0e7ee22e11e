"""The baseline of the I/O benchmarks: the task a user would write by hand, in a tiny Celery app
of its own (bench/starter/io_task.py: ``bare.fetch``; a group of bench/ may register its own
baseline on ``app`` in a module the worker loads with ``--include``).

No database, no result backend, ``acks_late`` off, prefetch 1, one ``requests.Session`` sized to
the worker's concurrency. Run as ``celery -A bare_app worker -P gevent -c 100 -Q bare`` from this
folder, with BARE_BROKER_URL, BARE_POOL_SIZE and (for an API that wants one) BARE_TOKEN set.
"""

from __future__ import annotations

import os

import requests
from celery import Celery
from requests.adapters import HTTPAdapter

QUEUE = "bare"

# Not the current app: imported beside the project's (bench/common.py), it must not become the app
# the project's shared tasks are sent with.
app = Celery(
    "bare_app",
    broker=os.environ.get("BARE_BROKER_URL", "redis://127.0.0.1:6379/15"),
    set_as_current=False,
)
app.conf.update(
    task_default_queue=QUEUE,
    task_acks_late=False,
    task_ignore_result=True,
    worker_prefetch_multiplier=1,
    worker_hijack_root_logger=False,
)

session = requests.Session()
session.mount(
    "http://",
    HTTPAdapter(pool_connections=1, pool_maxsize=int(os.environ.get("BARE_POOL_SIZE", "100"))),
)
session.headers["Authorization"] = f"Bearer {os.environ.get('BARE_TOKEN', '')}"


@app.task(name="bare.fetch")
def fetch(url: str) -> int:
    """What the starter's check_url does, written by hand (bench/starter/io_task.py's baseline)."""
    with session.get(url, timeout=(5, 10), allow_redirects=False, stream=True) as response:
        return response.status_code
