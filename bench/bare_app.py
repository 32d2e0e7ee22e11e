"""The baseline of the I/O benchmarks: the task a user would write by hand, in a tiny Celery app
of its own (bench/whatsapp/io_throughput.py: ``bare.send``; bench/starter/io_task.py:
``bare.fetch``).

``bare.send`` POSTs the same JSON as ``whatsapp.client`` through a ``requests.Session`` sized to
the worker's concurrency; no database, no result backend, ``acks_late`` off, prefetch 1. Run as
``celery -A bare_app worker -P gevent -c 100 -Q bare`` from this folder, with BARE_BROKER_URL,
BARE_API_URL, BARE_TOKEN and BARE_POOL_SIZE set.
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


@app.task(name="bare.send")
def send(to: str, body: str, callback_data: str) -> str:
    payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": body},
        "biz_opaque_callback_data": callback_data,
    }
    response = session.post(os.environ["BARE_API_URL"], json=payload, timeout=(3.05, 10))
    response.raise_for_status()
    return str(response.json()["messages"][0]["id"])


@app.task(name="bare.fetch")
def fetch(url: str) -> int:
    """What the starter's check_url does, written by hand (bench/starter/io_task.py's baseline)."""
    with session.get(url, timeout=(5, 10), allow_redirects=False, stream=True) as response:
        return response.status_code
