"""The development setup (``docker compose up``: the base file plus the override) on a real
Docker Engine, on a machine that already runs its own Redis on 6379. The project (the ``dev``
fixture, tests/compose/conftest.py) also serves test_recovery.py; the tests that stop and remove
it run last."""

from __future__ import annotations

import json
import re
import urllib.request

import pytest
import yaml
from django.conf import settings

from tests.compose.project import APP_SERVICES
from tests.scratch import REPO_DIR

pytestmark = pytest.mark.compose

# The example apps' API stand-ins: a project generated without the examples has none.
STANDINS = tuple(
    name
    for name, spec in yaml.safe_load((REPO_DIR / "docker-compose.override.yml").read_text())[
        "services"
    ].items()
    if spec.get("labels", {}).get("local-run") == "true"
)


def test_every_service_is_up_and_only_web_is_published(dev):
    for service in ("redis", "db", *APP_SERVICES):
        assert dev.health(service) == ["healthy"], service
    published = {}
    for service in ("redis", "db", *APP_SERVICES, *STANDINS):
        [container] = dev.containers(service, all_states=False)
        assert dev.inspect(container)["State"]["Running"], service
        ports = dev.inspect(container)["NetworkSettings"]["Ports"] or {}
        published[service] = sorted(
            f"{b['HostIp']}:{b['HostPort']}" for bindings in ports.values() for b in bindings or []
        )
    assert published.pop("web") == [f"127.0.0.1:{dev.env['WEB_PORT']}"]
    assert all(not ports for ports in published.values()), published


@pytest.mark.skipif(not STANDINS, reason="no example app, so no stand-in")
def test_the_standins_run_from_their_own_image_without_a_bind_mount(dev):
    for service in STANDINS:
        [container] = dev.containers(service, all_states=False)
        details = dev.inspect(container)
        assert details["Config"]["Image"] == dev.env["STANDIN_IMAGE"], service
        assert details["Config"]["User"] == "10001:10001", service
        assert not details["Mounts"], service


def test_readyz_answers_on_the_published_port(dev):
    url = f"http://127.0.0.1:{dev.env['WEB_PORT']}/readyz"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200


@pytest.mark.skipif(
    "whatsapp" not in settings.INSTALLED_APPS, reason="the whatsapp example app was removed"
)
def test_a_multi_part_reply_reaches_the_standin_complete_and_in_order(dev):
    out = dev.exec(
        "web",
        "python",
        "manage.py",
        "whatsapp_demo",
        "--base-url=http://127.0.0.1:8000",
        "--paragraphs=40",
        "--timeout=150",
    )
    assert "done: every part sent, in order" in out
    parts = int(re.search(r"as (\d+) parts", out)[1])  # type: ignore[index]
    assert parts >= 3
    received = json.loads(
        dev.exec(
            "web",
            "python",
            "-c",
            "import urllib.request; print(urllib.request.urlopen("
            "'http://whatsapp-standin:8081/_standin/received').read().decode())",
        )
    )
    bodies = [r["payload"]["text"]["body"] for r in received if r.get("wamid")]
    assert bodies[0].startswith("Commands:")
    paragraphs = [int(m) for body in bodies[1:] for m in re.findall(r"Paragraph (\d+)\.", body)]
    # every paragraph three times, in order, and no part twice
    assert paragraphs == [n for n in range(1, 41) for _ in range(3)]
    assert len(bodies) == 1 + parts


@pytest.mark.ends_dev
def test_every_service_stops_cleanly_within_its_grace_period(dev, report):
    report.add(
        "\n| service (dev setup) | exit code | stop time | grace period |\n|---|---|---|---|"
    )
    for service in (*STANDINS, *APP_SERVICES, "redis", "db"):
        stopped = dev.stop(service)
        report.add(
            f"| {service} | {stopped.exit_code} | {stopped.seconds:.1f} s | {stopped.grace:.0f} s |"
        )
        assert stopped.exit_code == 0, (service, dev.logs(service)[-3000:])
        assert stopped.seconds < stopped.grace, service


@pytest.mark.ends_dev
def test_down_with_volumes_leaves_nothing_behind(dev):
    dev.run("down", "-v")
    assert dev.leftovers() == {"containers": [], "networks": [], "volumes": []}
