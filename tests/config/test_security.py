"""Production settings pass ``check --deploy``; HTTPS is enforced except for the health probes;
the deployable stack publishes no port and runs as a user."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys

import pytest
import yaml

from devstack.compose import COMPOSE_FILES, REPO_DIR


def deploy_check(**overrides: str) -> subprocess.CompletedProcess[str]:
    # Built from nothing, as a deployer's environment would be: no test settings leak in.
    environ = {
        "PATH": os.environ["PATH"],
        "DOTENV_DISABLED": "1",
        "DJANGO_DEBUG": "0",
        "DJANGO_SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_ALLOWED_HOSTS": "app.example.com",
        "DJANGO_CSRF_TRUSTED_ORIGINS": "https://app.example.com",
        **overrides,
    }
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=REPO_DIR / "backend",
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_production_settings_pass_the_deploy_check():
    result = deploy_check()

    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_the_deploy_check_fails_on_the_example_placeholder_key():
    # Given .env.example's key copied as it is, instead of `make env`'s generated one
    result = deploy_check(DJANGO_SECRET_KEY="change-me")

    # the process stops at start, before the deploy checks, naming the variable
    assert result.returncode != 0
    assert "Configuration error: DJANGO_SECRET_KEY" in result.stderr


@pytest.fixture
def production_https(settings, collected_static):
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = 3600


@pytest.mark.usefixtures("production_https")
def test_plain_http_is_redirected_to_https_but_health_probes_are_not(client):
    redirected = client.get("/admin/login/")
    probe = client.get("/healthz")

    assert redirected.status_code == 301
    assert redirected["Location"] == "https://testserver/admin/login/"
    assert probe.status_code == 200


@pytest.mark.django_db
@pytest.mark.usefixtures("production_https")
def test_https_from_the_proxy_is_trusted_and_answered_with_hsts(client):
    # Given the TLS-terminating proxy's header
    response = client.get("/admin/login/", headers={"x-forwarded-proto": "https"})

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == "max-age=3600; includeSubDomains; preload"
    assert response.cookies["csrftoken"]["secure"]
    # The page links the stylesheet under its content-hashed name, which is cached for a year.
    assert re.search(rb"/static/admin/css/base\.[0-9a-f]{12}\.css", response.content)


def test_the_deployable_stack_publishes_no_port_and_its_image_runs_as_a_user():
    services = yaml.safe_load(COMPOSE_FILES[0].read_text())["services"]
    last_user = re.findall(r"^USER (\S+)", (REPO_DIR / "Dockerfile").read_text(), re.M)[-1]

    assert {name for name, spec in services.items() if "ports" in spec} == set()
    assert last_user.split(":")[0] not in ("root", "0")
