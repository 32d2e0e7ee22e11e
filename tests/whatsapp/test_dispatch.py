import ast
from pathlib import Path
from typing import Any

import pytest

from config.celery import app
from tests.whatsapp.conftest import user_wrote
from whatsapp import dispatch, tasks
from whatsapp.services import text_send_staggered, webhook_event_store

WHATSAPP_DIR = Path(tasks.__file__).parent
TASK_NAMES = [dispatch.SEND_MESSAGE, dispatch.PROCESS_WEBHOOK_EVENT, dispatch.SWEEP]


@pytest.fixture
def published(monkeypatch) -> list[tuple[str, dict[str, Any]]]:
    """What the services hand to the broker, recorded instead of sent."""
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(app, "send_task", lambda name, **options: sent.append((name, options)))
    return sent


@pytest.mark.parametrize("name", TASK_NAMES)
def test_each_name_is_a_registered_task_on_the_io_queue(name):
    assert app.tasks[name].name == name
    assert app.amqp.router.route({}, name)["queue"].name == "io"


def test_the_tasks_use_the_names():
    assert [tasks.send_message.name, tasks.process_webhook_event.name, tasks.sweep.name] == (
        TASK_NAMES
    )


def test_services_never_import_the_tasks_module():
    sources = [WHATSAPP_DIR / "dispatch.py", *sorted((WHATSAPP_DIR / "services").glob("*.py"))]
    for path in sources:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [f"{node.module}.{alias.name}" for alias in node.names]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            else:
                continue
            assert not any(n.startswith("whatsapp.tasks") for n in names), path


@pytest.mark.django_db
def test_a_reply_publishes_its_first_part_by_name_after_commit(
    settings, published, django_capture_on_commit_callbacks
):
    # given a spacing of 2 s
    settings.WHATSAPP_PART_SPACING_SECONDS = 2.0
    text = "\n".join(f"part {n} " + "x" * 4000 for n in range(3))
    user_wrote("15551234567")
    # when three parts are queued
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        ids = text_send_staggered(to="15551234567", text=text)
    # then nothing is published before the commit
    assert published == []
    for callback in callbacks:
        callback()
    # and afterwards only the first part is, by name and due now: each part wakes the next
    assert published == [
        (dispatch.SEND_MESSAGE, {"args": [ids[0]], "countdown": 0.0, "ignore_result": True})
    ]


@pytest.mark.django_db
def test_a_new_webhook_event_is_published_by_name_after_commit(
    published, django_capture_on_commit_callbacks
):
    # when a webhook body is stored
    with django_capture_on_commit_callbacks(execute=True):
        event, created = webhook_event_store(body=b'{"entry": []}')
    # then its processing is published once, without a countdown
    assert created
    assert published == [
        (
            dispatch.PROCESS_WEBHOOK_EVENT,
            {"args": [event.pk], "countdown": None, "ignore_result": True},
        )
    ]
