"""The machine's RabbitMQ as the session's broker: ``TEST_BROKER=amqp`` (``make test-rabbitmq``).

The session gets a virtual host of its own on 127.0.0.1:5672 when ``rabbitmqctl`` works for this
user (deleted at the end), otherwise ``/``, where the io and cpu queues are purged around each
test that uses them. ``TEST_BROKER_URL=amqp://...`` names another RabbitMQ, used as it is.
Imported by ``tests.bootstrap`` before the settings are read, so nothing here imports the project.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import urllib.request
import uuid

# RabbitMQ's own default user, which it lets in from loopback only.
LOCAL_RABBITMQ = "amqp://guest:guest@127.0.0.1:5672"  # pragma: allowlist secret
# Its management API, where RabbitMQ shows a queue's oldest message (the rabbitmq_management
# plugin: `rabbitmq-plugins enable rabbitmq_management`).
LOCAL_MANAGEMENT = "http://guest:guest@127.0.0.1:15672"  # pragma: allowlist secret


def _management_answers() -> bool:
    request = urllib.request.Request(
        "http://127.0.0.1:15672/api/overview",
        headers={"Authorization": "Basic " + base64.b64encode(b"guest:guest").decode()},
    )
    try:
        with urllib.request.urlopen(request, timeout=3) as answer:  # noqa: S310 (loopback)
            return bool(answer.status == 200)
    except OSError:
        return False


def _rabbitmqctl(*args: str) -> bool:
    if shutil.which("rabbitmqctl") is None:
        return False
    try:
        done = subprocess.run(
            ["rabbitmqctl", "-q", *args], capture_output=True, timeout=60, check=False
        )
    except subprocess.TimeoutExpired:
        return False
    return done.returncode == 0


class SessionRabbitMQ:
    """The RabbitMQ URL for this session, with a virtual host of its own where possible."""

    def __init__(self) -> None:
        self.vhost: str | None = None
        # The queue-age tests need it; without it they say so and skip that part.
        self.management_url = os.environ.get("RABBITMQ_MANAGEMENT_URL") or (
            LOCAL_MANAGEMENT if _management_answers() else None
        )
        url = os.environ.get("TEST_BROKER_URL")
        if url:
            self.url = url
            return
        vhost = f"django-celery-tests-{uuid.uuid4().hex[:12]}"
        if _rabbitmqctl("add_vhost", vhost) and _rabbitmqctl(
            "set_permissions", "-p", vhost, "guest", ".*", ".*", ".*"
        ):
            self.vhost = vhost
            self.url = f"{LOCAL_RABBITMQ}/{vhost}"
        else:
            self.url = f"{LOCAL_RABBITMQ}//"

    def stop(self) -> None:
        if self.vhost is not None:
            _rabbitmqctl("delete_vhost", self.vhost)


def session_rabbitmq() -> SessionRabbitMQ | None:
    """A RabbitMQ for the session when TEST_BROKER=amqp or TEST_BROKER_URL asks for one."""
    if os.environ.get("TEST_BROKER") == "amqp" or os.environ.get("TEST_BROKER_URL"):
        return SessionRabbitMQ()
    return None
