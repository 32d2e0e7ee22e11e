"""The Kubernetes sketch in deploy/kubernetes/, checked statically (no cluster here): generated
from the Compose file and the topology; each Deployment runs its Compose service's command as
Kubernetes expands it, stops within its stop_grace_period with its signal, and probes what Compose
checks; KEDA scales each worker on the Redis lists of its queues."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.conf import settings
from django.urls import resolve
from kombu.transport.redis import Channel

from config.celery import app as celery_app
from config.topology import WORKERS
from devstack.compose import COMPOSE_FILES, REPO_DIR, documents, load_services
from devstack.kubernetes import OUTPUT_DIR, SECRET_KEYS, SECRET_PLACEHOLDER, SERVICES, manifests
from devstack.systemd import _seconds
from ops import views as ops_views

COMPOSE: dict[str, Any] = documents(COMPOSE_FILES[:1])[0]


def committed() -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted(OUTPUT_DIR.glob("*.yaml")):
        found += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def named(kind: str) -> dict[str, dict[str, Any]]:
    return {obj["metadata"]["name"]: obj for obj in committed() if obj["kind"] == kind}


def container(service: str) -> dict[str, Any]:
    kind = "Job" if service == "migrate" else "Deployment"
    [only] = named(kind)[f"app-{service}"]["spec"]["template"]["spec"]["containers"]
    return only


CONFIG: dict[str, str] = named("ConfigMap")["app-config"]["data"]


def expand(text: str, variables: dict[str, str]) -> str:
    """Kubernetes' expansion of a command or env value: ``$(VAR)`` when VAR is known, ``$$`` as
    ``$``; anything else, an unknown ``$(...)`` included, stays as written."""
    out, i = [], 0
    while i < len(text):
        if text.startswith("$$", i):
            out.append("$")
            i += 2
        elif text.startswith("$(", i) and (end := text.find(")", i)) != -1:
            name = text[i + 2 : end]
            out.append(variables.get(name, text[i : end + 1]))
            i = end + 1
        else:
            out.append(text[i])
            i += 1
    return "".join(out)


def environment(service: str) -> dict[str, str]:
    """What the container's process gets: the ConfigMap, then ``env`` (which may use it)."""
    env = dict(CONFIG)
    for item in container(service).get("env", []):
        env[item["name"]] = expand(item["value"], env)
    return env


def test_the_committed_manifests_are_the_generated_ones():
    files = {path.name: path.read_text() for path in OUTPUT_DIR.glob("*.yaml")}
    assert files == manifests(), "run `make kubernetes-manifests` and commit deploy/kubernetes/"


@pytest.mark.parametrize("service", ["migrate", *SERVICES])
def test_each_container_runs_its_compose_command_with_compose_defaults(service):
    compose = load_services({}, [service], files=COMPOSE_FILES[:1])[service]
    command = [expand(arg, environment(service)) for arg in container(service)["command"]]

    assert command == list(compose.command)
    assert "$(" not in " ".join(command)


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.service)
def test_each_worker_deployment_consumes_what_the_topology_says(worker):
    command = [
        expand(arg, environment(worker.service)) for arg in container(worker.service)["command"]
    ]

    def option(flag: str) -> str:
        return command[command.index(flag) + 1]

    assert command[:4] == ["celery", "-A", "config", "worker"]
    assert option("-Q") == ",".join(worker.queues)
    assert option("-P") == worker.pool
    assert option("-n") == f"{worker.node}@%h"
    assert option("-c") == str(worker.default_concurrency)


@pytest.mark.parametrize("service", SERVICES)
def test_grace_periods_and_stop_signals_are_compose_ones(service):
    spec = COMPOSE["services"][service]
    pod = named("Deployment")[f"app-{service}"]["spec"]["template"]["spec"]

    assert pod["terminationGracePeriodSeconds"] == _seconds(spec.get("stop_grace_period", "10s"))
    assert environment(service).get("REMAP_SIGTERM") == (spec.get("environment") or {}).get(
        "REMAP_SIGTERM"
    )


def test_worker_cpu_soft_shuts_down_and_worker_io_does_not():
    assert environment("worker-cpu")["REMAP_SIGTERM"] == "SIGQUIT"
    assert "REMAP_SIGTERM" not in environment("worker-io")


@pytest.mark.kernel_clock
@pytest.mark.parametrize("service", [*(w.service for w in WORKERS), "beat"])
def test_the_liveness_probe_is_compose_healthcheck_and_fails_on_a_stale_file(service, tmp_path):
    spec = COMPOSE["services"][service]
    probe = container(service)["livenessProbe"]
    shell, flag, script = probe["exec"]["command"]
    env = environment(service)

    # given Compose's CMD-SHELL test ($$ is Compose's $), left alone by Kubernetes' expansion
    assert (shell, flag) == ("sh", "-c")
    assert script == spec["healthcheck"]["test"][1].replace("$$", "$")
    assert expand(script, env) == script
    assert probe["periodSeconds"] == _seconds(spec["healthcheck"]["interval"])
    assert probe["failureThreshold"] == spec["healthcheck"]["retries"]

    def run(path: Path) -> int:
        probe_env = {"PATH": os.environ["PATH"], **env, "CELERY_LIVENESS_FILE": str(path)}
        return subprocess.run(["sh", "-c", script], env=probe_env, timeout=10).returncode

    alive = tmp_path / Path(env["CELERY_LIVENESS_FILE"]).name
    alive.touch()
    # when fresh, it passes; when older than CELERY_LIVENESS_MAX_AGE (60 s) or missing, it fails
    assert run(alive) == 0
    stale = time.time() - 120
    os.utime(alive, (stale, stale))
    assert run(alive) != 0
    assert run(tmp_path / "missing") != 0


def test_web_probes_reach_the_health_views_and_are_allowed_by_host():
    web = container("web")
    [port] = web["ports"]
    probes = {"liveness": web["livenessProbe"], "readiness": web["readinessProbe"]}

    assert resolve(probes["liveness"]["httpGet"]["path"]).func is ops_views.healthz
    assert resolve(probes["readiness"]["httpGet"]["path"]).func is ops_views.readyz
    expose = re.findall(r"^EXPOSE (\d+)$", (REPO_DIR / "Dockerfile").read_text(), re.M)
    assert [port["containerPort"]] == [int(p) for p in expose]
    for probe in probes.values():
        assert probe["httpGet"]["port"] == port["name"]
        [host] = probe["httpGet"]["httpHeaders"]
        assert host["name"] == "Host"
        assert host["value"] in settings.ALLOWED_HOSTS
    [service_port] = named("Service")["app-web"]["spec"]["ports"]
    assert service_port["targetPort"] == port["name"]


def test_every_pod_runs_as_the_image_user():
    runtime = (REPO_DIR / "Dockerfile").read_text().split(" AS runtime", 1)[1]
    uid = int(re.findall(r"^USER (\d+):\d+$", runtime, re.M)[-1])
    pods = [
        obj["spec"]["template"]["spec"]
        for obj in committed()
        if obj["kind"] in ("Deployment", "Job")
    ]

    assert len(pods) == len(SERVICES) + 1
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == uid
        [app] = pod["containers"]
        assert app["securityContext"]["allowPrivilegeEscalation"] is False
        assert "resources" in app


def test_every_variable_is_defined_and_secrets_live_only_in_the_secret():
    secret = named("Secret")["app-secrets"]["stringData"]
    example = (REPO_DIR / ".env.example").read_text()
    secret_like = set(
        re.findall(r"^#? ?([A-Z0-9_]*(?:PASSWORD|SECRET|TOKEN|_KEY))=", example, re.M)
    )

    assert set(secret) == set(SECRET_KEYS)
    assert set(secret.values()) == {SECRET_PLACEHOLDER}
    assert secret_like <= set(secret)
    assert not set(CONFIG) & set(secret)
    assert set(COMPOSE["x-app-env"]) <= set(CONFIG) | set(secret)
    for service in ["migrate", *SERVICES]:
        app = container(service)
        texts = [*app["command"], *(item["value"] for item in app.get("env", []))]
        used = {
            name for text in texts for name in re.findall(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)", text)
        }
        assert used <= set(CONFIG), service


def test_the_settings_accept_the_config_map_with_real_secrets():
    # given the ConfigMap and generated secrets, debug off, no .env: the production settings load
    env = {
        "PATH": os.environ["PATH"],
        **CONFIG,
        **{key: secrets.token_urlsafe(24) for key in SECRET_KEYS},
        "DOTENV_DISABLED": "1",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    code = "import django; django.setup(); from django.conf import settings; print(settings.DEBUG)"
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO_DIR / "backend",
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert (result.returncode, result.stdout.strip()) == (0, "False"), result.stderr


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.service)
def test_keda_scales_each_worker_on_the_redis_lists_of_its_queues(worker):
    scaled = named("ScaledObject")[f"app-{worker.service}"]["spec"]
    auth = named("TriggerAuthentication")
    deployment = named("Deployment")[f"app-{worker.service}"]["spec"]

    assert scaled["scaleTargetRef"]["name"] == f"app-{worker.service}"
    assert "replicas" not in deployment, "KEDA owns the replica count"
    assert scaled["minReplicaCount"] >= 1
    assert [t["metadata"]["listName"] for t in scaled["triggers"]] == list(worker.queues)
    for trigger in scaled["triggers"]:
        assert trigger["type"] == "redis"
        assert trigger["metadata"]["address"] == f"{CONFIG['REDIS_HOST']}:{CONFIG['REDIS_PORT']}"
        assert trigger["metadata"]["databaseIndex"] == CONFIG["REDIS_DB"]
        [password] = auth[trigger["authenticationRef"]["name"]]["spec"]["secretTargetRef"]
        assert (password["name"], password["key"]) == ("app-secrets", "REDIS_PASSWORD")


def test_a_message_without_priority_waits_in_the_list_named_after_its_queue():
    # kombu's Redis transport: priority 0-2 in `<queue>`, 3 and more in `<queue>\x06\x16<step>`;
    # the ScaledObjects watch `<queue>` only, which holds everything while no task sets one.
    channel: Any = object.__new__(Channel)  # (kombu's stubs omit _q_for_pri)
    assert "priority_steps" not in celery_app.conf.broker_transport_options
    assert celery_app.conf.task_default_priority is None
    assert [channel._q_for_pri("io", p) for p in (0, 2, 3, 9)] == [
        "io",
        "io",
        "io\x06\x163",
        "io\x06\x169",
    ]
