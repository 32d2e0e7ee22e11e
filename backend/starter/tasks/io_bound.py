"""I/O-bound work (queue ``io``, the gevent worker): waiting on the network costs a greenlet, not
a process, so a hundred of these wait side by side."""

from __future__ import annotations

import logging

import requests
from celery import shared_task

logger = logging.getLogger(__name__)

# (connect, read): a task never waits on a silent server longer than this.
TIMEOUT = (5, 10)


# Results are off by default (config.celery); this one is fetched, so it keeps its result. It is
# acknowledged as it starts, like every io task (config.queues.QUEUE_ACKS_LATE): a worker killed
# mid-call does not call again. A task that must sets acks_late=True (docs/workers.md).
@shared_task(
    ignore_result=False,
    autoretry_for=(requests.ConnectionError, requests.Timeout),
    # A certificate that does not verify will not verify on the next try either.
    dont_autoretry_for=(requests.exceptions.SSLError,),
    max_retries=3,
    soft_time_limit=50,
    time_limit=60,
)
def check_url(url: str) -> int:
    """Fetch ``url`` and return its HTTP status; unreachable servers are retried with backoff.

    The body is never read, so a large one costs the worker nothing. Never pass a URL a user
    typed without checking where it points: the worker can reach what your users cannot.
    """
    with requests.get(url, timeout=TIMEOUT, allow_redirects=False, stream=True) as response:
        logger.info("checked %s: %s", url, response.status_code)
        return response.status_code
