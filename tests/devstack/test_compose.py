"""Reading commands out of the Compose files, and agreement between them and the topology."""

from __future__ import annotations

import pytest

from config.topology import WORKERS
from devstack.compose import (
    COMPOSE_FILES,
    InterpolationError,
    interpolate,
    load_services,
    services_labelled,
)
from devstack.run import LOCAL_RUN_LABEL
from tests.devstack.required import REQUIRED


@pytest.mark.parametrize(
    ("text", "env", "expected"),
    [
        ("${A}", {"A": "1"}, "1"),
        ("${A:-d}", {}, "d"),
        ("${A:-d}", {"A": ""}, "d"),
        ("${A-d}", {"A": ""}, ""),
        ("x$${A}y", {"A": "1"}, "x${A}y"),
        ("io@%h", {}, "io@%h"),
    ],
)
def test_interpolation_follows_compose(text, env, expected):
    assert interpolate(text, env) == expected


def test_required_variables_name_themselves():
    with pytest.raises(InterpolationError, match="REDIS_PASSWORD: set it"):
        interpolate("${REDIS_PASSWORD:?set it}", {})


def option(command: tuple[str, ...], flag: str) -> str:
    return command[command.index(flag) + 1]


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.service)
def test_each_worker_service_matches_the_topology(worker):
    # A fast drift alarm; tests/test_workers.py runs these commands and asks the workers.
    command = load_services({}, [worker.service], files=COMPOSE_FILES[:1])[worker.service].command

    assert command[:5] == ("celery", "-A", "config", "worker", "-Q")
    assert option(command, "-Q").split(",") == list(worker.queues)
    assert option(command, "-P") == worker.pool
    assert option(command, "-n") == f"{worker.node}@%h"


def test_concurrency_comes_from_the_topology_variable():
    io, cpu = (
        load_services({w.concurrency_env: "7"}, [w.service], files=COMPOSE_FILES[:1])[w.service]
        for w in WORKERS
    )

    assert option(io.command, "-c") == "7"
    assert option(cpu.command, "-c") == "7"


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.service)
def test_default_concurrency_is_the_topology_default(worker):
    command = load_services({}, [worker.service], files=COMPOSE_FILES[:1])[worker.service].command

    assert option(command, "-c") == str(worker.default_concurrency)


def test_container_addresses_become_loopback_for_local_runs():
    services = load_services(REQUIRED)
    addresses = [
        value
        for service in services.values()
        for value in (*service.command, *service.environment.values())
        if any(f"//{name}:" in value or "//127.0.0.1:" in value for name in services)
    ]

    if services_labelled(LOCAL_RUN_LABEL):
        # The dev override points the apps and its local-run services at each other.
        assert addresses
    assert all("//127.0.0.1:" in value for value in addresses), addresses
    assert "REDIS_HOST" not in services["worker-io"].environment
