"""The task request every task uses: acknowledging while the broker is unreachable is expected,
not critical.

When Redis restarts, a task that finishes (or starts, with ``acks_late=False``) while it is down
cannot be acknowledged, and kombu logs that at CRITICAL (``Couldn't ack``). Nothing is lost: the
message stays in Redis and comes back, and every task's claim on its row turns the copy away.
This request says so at WARNING. docs/troubleshooting.md, "Acknowledgements while Redis
restarts".

Upstream reports and the versions checked: ``ops.overrides`` (UPSTREAM, CHECKED_AGAINST).
"""

from __future__ import annotations

import logging
from typing import Any

from celery.worker.request import Request

logger = logging.getLogger(__name__)

NOT_ACKED = (
    "%s[%s] not acknowledged (%s): Redis delivers it again and its claim turns the copy away"
)


class _OutageLog:
    """What kombu's ``ack_log_error`` logs through when the broker cannot be reached."""

    def __init__(self, request: Request) -> None:
        self.request = request

    def critical(self, _msg: str, _tag: Any, exc: BaseException, **_kwargs: Any) -> None:
        # kombu passes (format, delivery_tag, exception) and exc_info; the traceback says nothing.
        logger.warning(NOT_ACKED, self.request.name, self.request.id, f"broker unreachable: {exc}")


# celery-types leave out the attributes used here.
_Request: Any = Request


class BrokerAwareRequest(_Request):
    """Acknowledge and reject as Celery does; an unreachable broker is a warning."""

    acknowledged: bool

    def acknowledge(self) -> None:
        if not self.acknowledged:
            self._on_ack(_OutageLog(self), self._connection_errors)
            self.acknowledged = True

    def reject(self, requeue: bool = False) -> None:
        if not self.acknowledged:
            self._on_reject(_OutageLog(self), self._connection_errors, requeue)
            self.acknowledged = True
            self.send_event("task-rejected", requeue=requeue)
