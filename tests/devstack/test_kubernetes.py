"""The Kubernetes sketch in deploy/kubernetes/, checked statically (no cluster here): generated
from the Compose file and the topology; each Deployment runs its Compose service's command as
Kubernetes expands it, stops within its stop_grace_period with its signal, and probes what Compose
checks; KEDA scales each worker on what web's /metrics says of its queues, through Prometheus."""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from pathlib import Path
from typing import Any
from unittest import mock

import pytest
import yaml
from django.conf import settings
from django.urls import resolve

from config.celery import app as celery_app
from config.topology import WORKERS
from devstack.compose import COMPOSE_FILES, REPO_DIR, documents, load_services
from devstack.kubernetes import (
    OUTPUT_DIR,
    SCALING,
    SECRET_KEYS,
    SECRET_PLACEHOLDER,
    SERVICES,
    Layout,
    manifests,
)
from devstack.systemd import _seconds
from ops import views as ops_views
from ops.metrics import collectors
from ops.metrics.queues import QueueReading

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


# What web's /metrics names each signal (ops.metrics.collectors), and the trigger's metricType:
# the age is the whole Deployment's (Value), a length is shared by the replicas (AverageValue,
# KEDA's default when metricType is absent).
SIGNALS = {
    "age": ("celery_queue_oldest_age_seconds", "Value"),
    "length": ("celery_queue_length", None),
}
QUERY = re.compile(r'max\((?P<metric>\w+)\{queue="(?P<queue>[^"]+)"\}\)')


@pytest.mark.parametrize("worker", WORKERS, ids=lambda w: w.service)
def test_keda_scales_each_worker_on_prometheus_per_queue_it_consumes(worker):
    scaled = named("ScaledObject")[f"app-{worker.service}"]["spec"]
    deployment = named("Deployment")[f"app-{worker.service}"]["spec"]
    scaling = SCALING[worker.service]
    metric, metric_type = SIGNALS[scaling.signal]

    assert scaled["scaleTargetRef"]["name"] == f"app-{worker.service}"
    assert "replicas" not in deployment, "KEDA owns the replica count"
    assert scaled["minReplicaCount"] >= 1
    queried = []
    for trigger in scaled["triggers"]:
        meta = trigger["metadata"]
        assert trigger["type"] == "prometheus"
        assert trigger.get("metricType") == metric_type
        assert "authenticationRef" not in trigger
        # metricName is gone from KEDA's prometheus scaler (2.12); every value is a string.
        assert set(meta) == {"serverAddress", "query", "threshold", "activationThreshold"}
        assert all(isinstance(value, str) for value in meta.values())
        assert meta["serverAddress"] == Layout().prometheus_url
        assert float(meta["threshold"]) == scaling.target > 0
        assert 0 <= float(meta["activationThreshold"]) < float(meta["threshold"])
        match = QUERY.fullmatch(meta["query"])
        assert match, meta["query"]
        assert match["metric"] == metric
        queried.append(match["queue"])
    assert queried == [str(queue) for queue in worker.queues]


def test_no_trigger_needs_the_broker_password():
    assert not named("TriggerAuthentication")
    assert not (OUTPUT_DIR / "keda-auth.yaml").exists()


def test_web_metrics_name_the_series_and_labels_the_triggers_query():
    # given a broker reading for every queue: web's collector yields what the triggers ask for
    reading = QueueReading(length=3, oldest_age=12.0)
    with (
        mock.patch.object(celery_app, "connection_for_read"),
        mock.patch.object(collectors, "queue_read", return_value=reading),
    ):
        families = list(object.__new__(collectors.CoreCollector)._queues())
    samples = {
        (family.name, sample.labels["queue"]): sample.value
        for family in families
        for sample in family.samples
    }

    for worker in WORKERS:
        metric, _ = SIGNALS[SCALING[worker.service].signal]
        for queue in worker.queues:
            assert (metric, str(queue)) in samples


def test_the_prometheus_url_is_an_option():
    custom = Layout(prometheus_url="http://prom.example:9090")

    for worker in WORKERS:
        text = manifests(custom)[f"{worker.service}.yaml"]
        [scaled] = [doc for doc in yaml.safe_load_all(text) if doc["kind"] == "ScaledObject"]
        for trigger in scaled["spec"]["triggers"]:
            assert trigger["metadata"]["serverAddress"] == "http://prom.example:9090"


@pytest.mark.parametrize("service", SERVICES)
def test_metrics_ports_and_multiprocess_dirs_follow_compose(service):
    compose_env = COMPOSE["services"][service].get("environment") or {}
    app = container(service)
    env = environment(service)
    pod = named("Deployment")[f"app-{service}"]["spec"]["template"]["spec"]

    # web serves /metrics on its http port; workers and beat on METRICS_PORT, named `metrics`
    ports = {port["name"]: port["containerPort"] for port in app["ports"]}
    if service == "web":
        assert set(ports) == {"http"}
    else:
        assert "METRICS_PORT" in compose_env
        assert ports == {"metrics": int(env["METRICS_PORT"])}
    # prometheus_client's multiprocess directory: only where Compose sets it (per service, never
    # in the ConfigMap every container loads), and on the writable emptyDir
    assert "PROMETHEUS_MULTIPROC_DIR" not in CONFIG
    assert env.get("PROMETHEUS_MULTIPROC_DIR") == compose_env.get("PROMETHEUS_MULTIPROC_DIR")
    if "PROMETHEUS_MULTIPROC_DIR" in env:
        empty_dirs = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
        mounts = [m["mountPath"] for m in app["volumeMounts"] if m["name"] in empty_dirs]
        directory = Path(env["PROMETHEUS_MULTIPROC_DIR"])
        assert any(directory.is_relative_to(mount) for mount in mounts), directory
