"""The development setup (``docker compose up``: the base file plus the override) on a real
Docker Engine, on a machine that already runs its own Redis on 6379. The project (the ``dev``
fixture, tests/compose/fixtures.py) also serves each app's tests/<app>/compose; the tests that
stop and remove it run last."""

from __future__ import annotations

import urllib.request

import pytest

from devstack.compose import services_labelled
from devstack.run import LOCAL_RUN_LABEL
from tests.compose.project import APP_SERVICES

pytestmark = pytest.mark.compose

# The dev override's own services, which `make run` runs as local processes too.
LOCAL_RUN = tuple(services_labelled(LOCAL_RUN_LABEL))


def test_every_service_is_up_and_only_web_is_published(dev):
    for service in ("redis", "db", *APP_SERVICES):
        assert dev.health(service) == ["healthy"], service
    published = {}
    for service in ("redis", "db", *APP_SERVICES, *LOCAL_RUN):
        [container] = dev.containers(service, all_states=False)
        assert dev.inspect(container)["State"]["Running"], service
        ports = dev.inspect(container)["NetworkSettings"]["Ports"] or {}
        published[service] = sorted(
            f"{b['HostIp']}:{b['HostPort']}" for bindings in ports.values() for b in bindings or []
        )
    assert published.pop("web") == [f"127.0.0.1:{dev.env['WEB_PORT']}"]
    assert all(not ports for ports in published.values()), published


@pytest.mark.skipif(not LOCAL_RUN, reason="the dev override adds no service of its own")
def test_the_local_run_services_run_from_an_image_of_their_own_without_a_bind_mount(dev, images):
    for service in LOCAL_RUN:
        [container] = dev.containers(service, all_states=False)
        details = dev.inspect(container)
        assert details["Config"]["Image"] in set(images.values()) - {images["APP_IMAGE"]}, service
        assert details["Config"]["User"] == "10001:10001", service
        assert not details["Mounts"], service


def test_readyz_answers_on_the_published_port(dev):
    url = f"http://127.0.0.1:{dev.env['WEB_PORT']}/readyz"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200


@pytest.mark.ends_dev
def test_every_service_stops_cleanly_within_its_grace_period(dev, report):
    report.add(
        "\n| service (dev setup) | exit code | stop time | grace period |\n|---|---|---|---|"
    )
    for service in (*LOCAL_RUN, *APP_SERVICES, "redis", "db"):
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
