"""Fast checks of the Dockerfile and Compose files for the faults a real run found; the
containers themselves are tested by ``make test-compose`` (tests/compose/)."""

from __future__ import annotations

import re
from collections import defaultdict
from typing import Any

import pytest
import yaml

from devstack.compose import COMPOSE_FILES, REPO_DIR, services_labelled

DOCKERFILE = (REPO_DIR / "Dockerfile").read_text()


def services(path: Any) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = yaml.safe_load(path.read_text())["services"]
    return found


def test_the_dockerfile_asks_buildkit_for_no_frontend_image():
    # A `# syntax=` parser directive makes BuildKit pull that image from a registry.
    directives = re.findall(r"^#\s*syntax\s*=", DOCKERFILE, flags=re.MULTILINE | re.IGNORECASE)
    assert directives == []


def test_the_runtime_stage_leaves_the_dev_tooling_out():
    stages = re.split(r"^FROM \S+ AS (\w+)$", DOCKERFILE, flags=re.MULTILINE)[1:]
    copied = {
        name: re.findall(r"^COPY (?!--from)(\S+)", body, flags=re.MULTILINE)
        for name, body in zip(stages[::2], stages[1::2], strict=True)
    }
    assert copied == {
        "builder": ["requirements/base.lock"],
        "static": ["backend/"],
        "proxy": ["deploy/caddy/Caddyfile"],
        "runtime": ["backend/"],
    }
    # The last stage is what a plain `docker build .` produces.
    assert list(copied)[-1] == "runtime"
    assert not (REPO_DIR / "backend" / "devstack").exists()


def test_which_services_build_each_image_and_none_pulls_one():
    builders: dict[str, list[str]] = defaultdict(list)
    for path in COMPOSE_FILES:
        for name, spec in services(path).items():
            image = spec.get("image", "")
            if "_IMAGE" not in image:
                continue
            if "build" in spec:
                builders[image].append(name)
            else:
                assert spec.get("pull_policy", "never") == "never", name
    assert builders.pop("${APP_IMAGE:-django-celery-template:local}") == ["migrate"]
    # Any other image is a dev-only one, which each local-run service builds for itself, so that
    # each stands alone.
    assert sorted(name for names in builders.values() for name in names) == sorted(
        services_labelled("local-run")
    )


def test_redis_is_started_as_redis_server_so_its_image_drops_root():
    command = services(COMPOSE_FILES[0])["redis"]["command"]
    assert command[0] == "redis-server"


def test_the_dev_override_publishes_only_the_web_port():
    published = {
        name: spec["ports"] for name, spec in services(COMPOSE_FILES[1]).items() if "ports" in spec
    }
    assert published == {"web": ["127.0.0.1:${WEB_PORT:-8000}:8000"]}


@pytest.mark.parametrize("name", services_labelled("local-run"))
def test_the_local_run_services_run_under_an_init_that_forwards_sigterm(name):
    assert services(COMPOSE_FILES[1])[name]["init"] is True


def test_only_the_prefork_worker_remaps_sigterm_to_a_soft_shutdown():
    base = services(COMPOSE_FILES[0])
    assert "REMAP_SIGTERM" not in base["worker-io"]["environment"]
    assert base["worker-cpu"]["environment"]["REMAP_SIGTERM"] == "SIGQUIT"


def test_web_uses_the_gunicorn_config_that_moves_the_control_socket():
    from config import gunicorn

    assert services(COMPOSE_FILES[0])["web"]["command"][:2] == [
        "gunicorn",
        "--config=python:config.gunicorn",
    ]
    assert gunicorn.control_socket.startswith("/tmp/")
