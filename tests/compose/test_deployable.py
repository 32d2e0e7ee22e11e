"""The deployable file alone (``docker compose -f docker-compose.yml``) on a real Docker Engine."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.compose.fixtures import BASE, Report, project_for
from tests.compose.project import APP_SERVICES, ComposeProject, docker

pytestmark = pytest.mark.compose

FAST_HEALTH = [*BASE, "tests/compose/fast-health.yml"]
SERVICES = ("redis", "db", *APP_SERVICES)
WORKER_SERVICES = ("worker-io", "worker-cpu")


@pytest.fixture(scope="module")
def deployed(workspace: Path, built: str, run_id: str, report: Report) -> Iterator[ComposeProject]:
    env = {"APP_IMAGE": built, "OPS_CANARY_INTERVAL_SECONDS": "5"}
    for project in project_for(workspace, f"dct-deploy-{run_id}", BASE, env):
        started = time.monotonic()
        project.up()
        report.add(
            f"Deployable file: every service healthy {time.monotonic() - started:.0f} s after up"
        )
        yield project


def shell(project: ComposeProject, code: str) -> str:
    """Run Python in the web container, with Django and the Celery app loaded."""
    return project.exec("web", "python", "manage.py", "shell", "-c", code)


def stats(project: ComposeProject) -> dict[str, dict]:
    out = shell(
        project,
        "import json; from config.celery import app; "
        "print(json.dumps(app.control.inspect(timeout=5).stats() or {}))",
    )
    result: dict[str, dict] = json.loads(out.strip().splitlines()[-1])
    return result


def doctor_passes(project: ComposeProject, timeout: float = 90) -> str:
    deadline = time.monotonic() + timeout
    while True:
        result = project.run("exec", "-T", "web", "python", "manage.py", "doctor", check=False)
        if result.returncode == 0 and "All live checks passed." in result.stdout:
            return result.stdout
        if time.monotonic() > deadline:
            raise AssertionError(f"doctor not green:\n{result.stdout}\n{result.stderr}")
        time.sleep(3)


def test_every_service_is_up_and_healthy(deployed):
    for service in SERVICES:
        assert deployed.health(service) == ["healthy"], service


def test_migrate_ran_once_and_web_and_workers_started_after_it(deployed):
    [migrate] = deployed.containers("migrate")
    state = deployed.inspect(migrate)["State"]
    assert (state["Status"], state["ExitCode"], deployed.inspect(migrate)["RestartCount"]) == (
        "exited",
        0,
        0,
    )
    assert "Applying" in deployed.logs("migrate")
    for service in APP_SERVICES:
        [container] = deployed.containers(service)
        assert deployed.inspect(container)["State"]["StartedAt"] > state["FinishedAt"], service


def test_one_image_serves_every_app_service(deployed, built):
    image_ids = {
        deployed.inspect(c)["Image"]
        for s in ("migrate", *APP_SERVICES)
        for c in deployed.containers(s)
    }
    assert image_ids == {json.loads(docker("image", "inspect", built))[0]["Id"]}


def test_the_doctor_is_green_inside_the_web_container(deployed):
    out = doctor_passes(deployed)
    assert "io@" in out
    assert "cpu@" in out


def test_workers_report_their_pool_and_topology_concurrency(deployed):
    cpus = int(
        deployed.exec(
            "worker-cpu",
            "python",
            "-c",
            "from celery.utils.sysinfo import cpu_budget; print(cpu_budget().count)",
        )
    )
    by_prefix = {node.split("@")[0]: s["pool"] for node, s in stats(deployed).items()}
    assert by_prefix["io"]["implementation"] == "celery.concurrency.gevent:TaskPool"
    assert by_prefix["io"]["max-concurrency"] == 100
    assert by_prefix["cpu"]["implementation"] == "celery.concurrency.prefork:TaskPool"
    assert by_prefix["cpu"]["max-concurrency"] == cpus


def test_no_process_in_any_container_runs_as_root(deployed):
    for service in SERVICES:
        for container in deployed.containers(service, all_states=False):
            rows = docker("top", container, "-eo", "pid,uid,comm").splitlines()[1:]
            assert rows, service
            for row in rows:
                _, uid, command = row.split(None, 2)
                assert uid != "0", f"{service}: {command} runs as root"


def test_web_starts_without_errors(deployed):
    log = deployed.logs("web")
    assert "Booting worker" in log
    assert "[ERROR]" not in log
    assert "Permission denied" not in log


def test_scaled_workers_are_four_nodes_and_io_work_is_spread(deployed):
    deployed.up("--scale", "worker-io=2", "--scale", "worker-cpu=2")
    try:
        out = doctor_passes(deployed)
        nodes = sorted(stats(deployed))
        assert [n.split("@")[0] for n in nodes] == ["cpu", "cpu", "io", "io"]
        for node in nodes:
            assert node in out
        counts = json.loads(
            shell(
                deployed,
                "import json, collections; from ops.tasks import probe; "
                "results = [probe.apply_async(queue='io') for _ in range(200)]; "
                "print(json.dumps(collections.Counter("
                "r.get(timeout=60)['hostname'] for r in results)))",
            )
            .strip()
            .splitlines()[-1]
        )
        assert sorted(counts) == [n for n in nodes if n.startswith("io@")]
        assert min(counts.values()) >= 20, counts
    finally:
        deployed.up("--scale", "worker-io=1", "--scale", "worker-cpu=1")


def test_a_crashed_worker_is_restarted_by_its_policy(deployed, report):
    # A crash (the OOM killer, a segfault): the worker process dies by SIGKILL. `docker kill`
    # would not do: Docker counts it as a manual stop, which no restart policy undoes.
    [container] = deployed.containers("worker-io", all_states=False)
    deployed.exec("worker-io", "sh", "-c", "kill -KILL $(cat /proc/1/task/1/children)", check=False)
    started = time.monotonic()
    deadline = started + 60
    while deployed.inspect(container)["RestartCount"] < 1:
        assert time.monotonic() < deadline, "worker-io was not restarted"
        time.sleep(0.5)
    deployed.wait_health("worker-io", "healthy", timeout=90)
    doctor_passes(deployed)
    report.add(
        f"worker-io killed (SIGKILL): restarted, healthy and doctor green "
        f"{time.monotonic() - started:.0f} s later"
    )


def test_a_worker_that_stops_consuming_turns_unhealthy(deployed, report):
    # Not `up --wait`: it gives up once a container is unhealthy, and with these healthchecks a
    # worker still booting after the 5 s start period and two probes 2 s apart (busy cores) is,
    # until its first touch makes it healthy.
    deployed.run("up", "-d", files=FAST_HEALTH)
    try:
        for service in WORKER_SERVICES:
            deployed.wait_health(service, "healthy", timeout=60)
        # Redis frozen: every connection stays open, nothing answers; the workers keep running.
        deployed.run("pause", "redis")
        paused_at = time.monotonic()
        try:
            unhealthy = {}
            for service in WORKER_SERVICES:
                deployed.wait_health(service, "unhealthy", timeout=60)
                unhealthy[service] = time.monotonic() - paused_at
                [container] = deployed.containers(service, all_states=False)
                assert deployed.inspect(container)["State"]["Running"]
        finally:
            deployed.run("unpause", "redis")
            unpaused_at = time.monotonic()
        healthy = {}
        for service in WORKER_SERVICES:
            deployed.wait_health(service, "healthy", timeout=90)
            healthy[service] = time.monotonic() - unpaused_at
        report.add(
            "Redis paused (fast healthchecks: touch every 1 s, max age 5 s, checked every 2 s): "
            + ", ".join(f"{s} unhealthy {t:.0f} s after the pause" for s, t in unhealthy.items())
            + "; "
            + ", ".join(f"{s} healthy {t:.0f} s after unpause" for s, t in healthy.items())
        )
    finally:
        deployed.up()


def test_each_service_stops_cleanly_within_its_grace_period(deployed, report):
    report.add("\n| service | exit code | stop time | grace period |\n|---|---|---|---|")
    for service in (*APP_SERVICES, "redis", "db"):
        stopped = deployed.stop(service)
        report.add(
            f"| {service} | {stopped.exit_code} | {stopped.seconds:.1f} s | {stopped.grace:.0f} s |"
        )
        assert stopped.exit_code == 0, (service, deployed.logs(service)[-3000:])
        assert stopped.seconds < stopped.grace, service
    for service in ("worker-io", "worker-cpu", "beat"):
        log = deployed.logs(service)
        for marker in ("CRITICAL", "Traceback", "Couldn't ack"):
            assert marker not in log, (service, marker)


def test_down_with_volumes_leaves_nothing_behind(deployed):
    deployed.run("down", "-v")
    assert deployed.leftovers() == {"containers": [], "networks": [], "volumes": []}
