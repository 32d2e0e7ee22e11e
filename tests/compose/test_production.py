"""The production stack (the base file and docker-compose.prod.yml) on a real Docker Engine, with
Caddy's local CA (``CADDY_TLS=internal``), Flower, two worker-io replicas and two beats."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from devstack.redis_server import free_port
from tests.compose.fixtures import BASE, Report, project_for
from tests.compose.project import ComposeProject, docker

pytestmark = pytest.mark.compose

PROD = [*BASE, "docker-compose.prod.yml"]
LOCK_TIMEOUT = 6
CANARY_INTERVAL = 2
HASHED = re.compile(r"/static/admin/css/base\.[0-9a-f]{12}\.css")


class Production:
    def __init__(self, project: ComposeProject, http_port: int, https_port: int, ca: Path) -> None:
        self.project = project
        self.http_port = http_port
        self.https_port = https_port
        self.ca = ca
        env = dict(line.split("=", 1) for line in _env_lines(project.directory / ".env"))
        self.flower_auth = tuple(env["FLOWER_BASIC_AUTH"].split(":", 1))
        self.prometheus = f"http://127.0.0.1:{env['PROMETHEUS_PORT']}"
        self.alertmanager = f"http://127.0.0.1:{env['ALERTMANAGER_PORT']}"

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return requests.get(
            f"https://localhost:{self.https_port}{path}", verify=str(self.ca), timeout=15, **kwargs
        )

    def wait_for_https(self, timeout: float = 60) -> float:
        started = time.monotonic()
        while True:
            try:
                if self.get("/readyz").status_code == 200:
                    return time.monotonic() - started
            except requests.exceptions.ConnectionError:
                pass
            assert time.monotonic() - started < timeout, "no HTTPS answer from the proxy"
            time.sleep(0.5)

    def shell(self, code: str) -> str:
        out = self.project.exec("web", "python", "manage.py", "shell", "-c", code)
        return out.strip().splitlines()[-1]


def _env_lines(path: Path) -> list[str]:
    return [line for line in path.read_text().splitlines() if re.match(r"^[A-Z0-9_]+=", line)]


# The alert test's configuration: Prometheus scrapes and evaluates every 2 s, every alert fires
# after 4 s instead of minutes, and io's queue age pages past 4 s instead of 60.
SCRAPE_EVERY = "2s"
IO_AGE_THRESHOLD = 4


def alerts_shortened(directory: Path) -> None:
    config = directory / "deploy" / "prometheus" / "prometheus.yml"
    config.write_text(
        re.sub(
            r"(scrape_interval|scrape_timeout|evaluation_interval): \S+",
            rf"\1: {SCRAPE_EVERY}",
            config.read_text(),
        )
    )
    for rules in (directory / "deploy" / "prometheus" / "rules").glob("*.yml"):
        text = re.sub(r"(?m)^(\s+)for: \S+$", r"\1for: 4s", rules.read_text())
        text = text.replace(
            'celery_queue_oldest_age_seconds{queue="io"}) > 60',
            f'celery_queue_oldest_age_seconds{{queue="io"}}) > {IO_AGE_THRESHOLD}',
        )
        rules.write_text(text)


@pytest.fixture(scope="module")
def production(workspace: Path, built: str, run_id: str, report: Report) -> Iterator[Production]:
    directory = workspace.parent / f"{workspace.name}-production"
    shutil.copytree(workspace, directory)
    alerts_shortened(directory)
    http_port, https_port = free_port(), free_port()
    settings = {
        "PROMETHEUS_PORT": str(free_port()),
        "ALERTMANAGER_PORT": str(free_port()),
        "DOMAIN": "localhost",
        "CADDY_TLS": "internal",
        "ACME_EMAIL": "ops@example.com",
        "HTTP_PORT": str(http_port),
        "HTTPS_PORT": str(https_port),
        "COMPOSE_PROFILES": "flower",
        "WORKER_IO_REPLICAS": "2",
        "BEAT_REPLICAS": "2",
        "CELERY_BEAT_LOCK_TIMEOUT": str(LOCK_TIMEOUT),
        "OPS_CANARY_INTERVAL_SECONDS": str(CANARY_INTERVAL),
    }
    with (directory / ".env").open("a") as env_file:
        env_file.write("".join(f"{name}={value}\n" for name, value in settings.items()))
    proxy_image = f"django-celery-template-proxy-test:{run_id}"
    env = {"APP_IMAGE": built, "PROXY_IMAGE": proxy_image}
    try:
        for project in project_for(directory, f"dct-prod-{run_id}", PROD, env):
            started = time.monotonic()
            project.run("build", "proxy", timeout=900)
            project.up()
            report.add(
                f"Production stack (build of the proxy image and up): every service healthy "
                f"{time.monotonic() - started:.0f} s after the build began"
            )
            ca = directory / "caddy-root.crt"
            ca.write_text(
                project.exec("proxy", "cat", "/data/caddy/pki/authorities/local/root.crt")
            )
            production = Production(project, http_port, https_port, ca)
            # Caddy issues the certificate just after it starts.
            waited = production.wait_for_https()
            report.add(f"Production stack: HTTPS answered {waited:.1f} s after `up` returned")
            yield production
    finally:
        docker("image", "rm", "-f", proxy_image)
        shutil.rmtree(directory, ignore_errors=True)


def test_readyz_answers_over_https_with_a_certificate_from_caddys_local_ca(production):
    response = production.get("/readyz")

    assert response.status_code == 200
    assert response.json() == {"status": "ok", "database": "ok", "broker": "ok"}
    # The certificate really is checked: without Caddy's root it is refused.
    with pytest.raises(requests.exceptions.SSLError):
        requests.get(f"https://localhost:{production.https_port}/readyz", timeout=15)


def test_plain_http_is_redirected_to_https(production):
    response = requests.get(
        f"http://localhost:{production.http_port}/readyz", allow_redirects=False, timeout=15
    )

    assert response.status_code == 308
    assert response.headers["Location"] == "https://localhost/readyz"


def test_only_the_proxy_publishes_and_only_80_and_443(production):
    project = production.project
    published = {}
    for container in project.containers(all_states=False):
        info = project.inspect(container)
        service = info["Config"]["Labels"]["com.docker.compose.service"]
        ports = {port for port, bindings in info["NetworkSettings"]["Ports"].items() if bindings}
        if ports:
            published[service] = ports

    # Prometheus and Alertmanager only on the host's loopback (an SSH tunnel reaches them)
    loopback_only = {}
    for service in ("prometheus", "alertmanager"):
        [container] = project.containers(service, all_states=False)
        bindings = project.inspect(container)["NetworkSettings"]["Ports"]
        loopback_only[service] = {
            binding["HostIp"] for port in bindings.values() if port for binding in port
        }
        del published[service]
    assert loopback_only == {"prometheus": {"127.0.0.1"}, "alertmanager": {"127.0.0.1"}}
    assert published == {"proxy": {"80/tcp", "443/tcp", "443/udp"}}
    assert project.run("port", "proxy", "443").stdout.strip().endswith(f":{production.https_port}")
    assert project.run("port", "proxy", "80").stdout.strip().endswith(f":{production.http_port}")
    for service, port in (("web", "8000"), ("flower", "5555"), ("redis", "6379"), ("db", "5432")):
        # Compose prints ":0" (or nothing) for a port that is not published.
        assert project.run("port", service, port, check=False).stdout.strip() in ("", ":0"), service


def test_static_files_come_from_the_proxy_cached_a_year_when_hashed(production):
    page = production.get("/admin/login/")
    hashed = HASHED.search(page.text)
    assert page.status_code == 200
    assert hashed, page.text[:500]
    since = time.time()

    long_lived = production.get(hashed[0], headers={"Accept-Encoding": "gzip"})
    plain = production.get("/static/admin/css/base.css")

    assert long_lived.status_code == 200
    assert long_lived.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert long_lived.headers["Content-Encoding"] == "gzip"
    assert "body" in long_lived.text
    assert plain.status_code == 200
    assert plain.headers["Cache-Control"] == "public, max-age=3600"
    # A hashed name the proxy lacks goes to web, and its 404 is not cached for a year.
    missing = production.get("/static/admin/css/base.0123456789ab.css")
    assert missing.status_code == 404
    assert "immutable" not in missing.headers.get("Cache-Control", "")
    # gunicorn saw only the one the proxy lacks.
    web_log = production.project.logs("web", since=since)
    assert [line for line in web_log.splitlines() if "/static/" in line] == [
        line for line in web_log.splitlines() if "0123456789ab" in line
    ]


def test_security_headers_are_on_every_response(production):
    for path in ("/readyz", "/admin/login/", "/static/admin/css/base.css"):
        headers = production.get(path).headers

        assert headers["Strict-Transport-Security"].startswith("max-age=3600"), path
        assert headers["X-Content-Type-Options"] == "nosniff", path
        assert headers["X-Frame-Options"] == "DENY", path
        assert headers["Referrer-Policy"] == "same-origin", path
        assert "Server" not in headers, path


def test_check_deploy_passes_with_the_production_settings(production):
    result = production.project.run(
        "exec", "-T", "web", "python", "manage.py", "check", "--deploy", "--fail-level", "WARNING"
    )

    assert "no issues" in result.stdout


def test_each_service_has_limits_log_rotation_and_a_restart_policy(production):
    project = production.project
    services = set()
    for container in project.containers(all_states=False):
        info = project.inspect(container)
        service = info["Config"]["Labels"]["com.docker.compose.service"]
        host = info["HostConfig"]
        services.add(service)

        assert host["Memory"] > 0, service
        assert host["NanoCpus"] > 0, service
        assert host["LogConfig"] == {
            "Type": "json-file",
            "Config": {"max-file": "5", "max-size": "10m"},
        }, service
        assert host["RestartPolicy"]["Name"] == "unless-stopped", service
    assert services == {
        "proxy", "web", "worker-io", "worker-cpu", "beat", "redis", "db", "backup", "flower",
        "prometheus", "alertmanager",
    }  # fmt: skip


def test_worker_replicas_come_from_env_and_each_is_its_own_node(production):
    nodes = json.loads(
        production.shell(
            "import json; from config.celery import app; "
            "print(json.dumps(sorted(app.control.inspect(timeout=5).ping() or {})))"
        )
    )

    assert [node.split("@")[0] for node in nodes] == ["cpu", "io", "io"]
    assert len(production.project.containers("worker-io", all_states=False)) == 2


def run_probe(production: Production) -> dict[str, str]:
    """A probe task through worker-io: its id and the node that ran it."""
    result: dict[str, str] = json.loads(
        production.shell(
            "import json; from ops.tasks import probe; r = probe.delay(); "
            "print(json.dumps({'id': r.id, **r.get(timeout=30)}))"
        )
    )
    return result


def test_flower_is_behind_a_login_and_sees_the_workers_and_their_tasks(production):
    probe = run_probe(production)

    assert production.get("/flower/").status_code == 401
    assert production.get("/flower/", auth=("admin", "not-the-password")).status_code == 401
    assert production.get("/flower/", auth=production.flower_auth).status_code == 200
    workers = production.get("/flower/api/workers?refresh=1", auth=production.flower_auth).json()
    assert sorted(node.split("@")[0] for node in workers) == ["cpu", "io", "io"]
    # Task events are on: Flower saw the probe run, on the node that ran it.
    deadline = time.monotonic() + 30
    while True:
        tasks = production.get("/flower/api/tasks", auth=production.flower_auth).json()
        task = tasks.get(probe["id"], {})
        if task.get("state") == "SUCCESS" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert task["state"] == "SUCCESS"
    assert task["worker"] == probe["hostname"]


def test_a_tasks_log_line_is_json_carrying_its_task_id(production):
    probe = run_probe(production)

    lines = []
    for line in production.project.logs("worker-io").splitlines():
        if probe["id"] in line:
            lines.append(json.loads(line))

    assert any(
        entry.get("task_id") == probe["id"]
        and entry["task_name"] == "ops.tasks.probe"
        and entry["queue"] == "io"
        and entry["worker"] == probe["hostname"]
        for entry in lines
    ), lines


def test_a_worker_host_joins_with_the_workers_file(production, run_id, report):
    main = production.project
    env = {
        "APP_IMAGE": main.env["APP_IMAGE"],
        "PROXY_IMAGE": main.env["PROXY_IMAGE"],
        # What a worker host's .env says: where the main host's Redis and PostgreSQL are.
        "REDIS_HOST": "redis",
        "POSTGRES_HOST": "db",
        "WORKER_IO_REPLICAS": "1",
        "JOIN_NETWORK": f"{main.name}_default",
    }
    files = [*PROD, "docker-compose.workers.yml", "tests/compose/join-network.yml"]
    for host in project_for(main.directory, f"dct-prodworkers-{run_id}", files, env):
        started = time.monotonic()
        host.up("--no-deps", "worker-io", "worker-cpu")
        took = time.monotonic() - started
        started_here = {
            host.inspect(c)["Config"]["Labels"]["com.docker.compose.service"]
            for c in host.containers()
        }
        assert started_here == {"worker-io", "worker-cpu"}
        nodes = json.loads(
            production.shell(
                "import json; from config.celery import app; "
                "print(json.dumps(sorted(app.control.inspect(timeout=5).ping() or {})))"
            )
        )
        ran = json.loads(
            production.shell(
                "import json, collections; from ops.tasks import probe; "
                "results = [probe.apply_async(queue='cpu') for _ in range(60)]; "
                "print(json.dumps(collections.Counter("
                "r.get(timeout=60)['hostname'] for r in results)))"
            )
        )

        assert [node.split("@")[0] for node in nodes] == ["cpu", "cpu", "io", "io", "io"]
        assert sorted(ran) == [node for node in nodes if node.startswith("cpu@")], ran
        report.add(
            f"Worker host (docker-compose.workers.yml): healthy {took:.0f} s after up; "
            f"60 cpu probes ran {dict(ran)}"
        )


def table_counts(project: ComposeProject) -> dict[str, int]:
    """Rows in every table of the app's database, counted exactly."""
    sql = (
        "select table_name, (xpath('/row/c/text()', query_to_xml("
        "format('select count(*) as c from %I', table_name), false, true, '')))[1]::text::int "
        "from information_schema.tables where table_schema = 'public' order by 1"
    )
    out = project.exec("db", "psql", "-U", "app", "-d", "app", "-AtF", " ", "-c", sql)
    return {name: int(count) for name, count in (line.split() for line in out.splitlines())}


def test_a_backup_and_restore_round_trip_keeps_every_row(production, report):
    project = production.project
    production.shell(
        "from django.contrib.auth.models import User; "
        "User.objects.bulk_create(User(username=f'backup-{i}') for i in range(250)); print('ok')"
    )
    before = table_counts(project)
    assert before["auth_user"] >= 250
    assert before["django_migrations"] > 10

    started = time.monotonic()
    backup = make(project, "backup")
    name = re.search(r"wrote /backups/(\S+\.dump)", backup)
    assert name, backup
    # After the dump: rows lost and rows that should not be there.
    production.shell(
        "from django.contrib.auth.models import User; User.objects.all().delete(); "
        "User.objects.create(username='after-the-backup'); print('ok')"
    )
    project.exec("db", "psql", "-U", "app", "-d", "app", "-c", "delete from django_migrations")
    # As a migration after the dump would: a table the backup does not know.
    project.exec("db", "psql", "-U", "app", "-d", "app", "-c", "create table after_backup (x int)")
    make(project, "restore", f"BACKUP={name[1]}")
    took = time.monotonic() - started

    assert table_counts(project) == before
    usernames = production.shell(
        "from django.contrib.auth.models import User; "
        "print(sorted(User.objects.values_list('username', flat=True))[:3])"
    )
    assert usernames == "['backup-0', 'backup-1', 'backup-10']"
    report.add(
        f"Backup and restore ({sum(before.values())} rows in {len(before)} tables): "
        f"{took:.0f} s, app services stopped and started again"
    )
    for service in ("web", "worker-io", "worker-cpu", "beat"):
        project.wait_health(service, "healthy", timeout=120)


def make(project: ComposeProject, *args: str) -> str:
    result = subprocess.run(
        ["make", "--no-print-directory", *args],
        cwd=project.directory,
        env=project.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    return result.stdout + result.stderr


def canaries_received(project: ComposeProject, since: float) -> dict[str, int]:
    """Canary tasks each queue's workers received since ``since`` (a ``time.time()``)."""
    counts = {}
    for service, queue in (("worker-io", "io"), ("worker-cpu", "cpu")):
        log = project.logs(service, since=since)
        counts[queue] = len(
            [line for line in log.splitlines() if "ops.tasks.canary" in line and "received" in line]
        )
    return counts


def holder(project: ComposeProject) -> str | None:
    """The beat container whose latest lock message says it sends the schedule."""
    for container in project.containers("beat", all_states=False):
        log = subprocess.run(
            ["docker", "logs", container], capture_output=True, text=True, timeout=60, check=True
        )
        messages = [
            json.loads(line)["message"]
            for line in (log.stdout + log.stderr).splitlines()
            if line.startswith("{") and "ops:beat:lock" in line
        ]
        if messages and "holding the lock" in messages[-1]:
            return container
    return None


def test_two_beats_send_each_canary_once_and_the_standby_takes_over(production, report):
    project = production.project
    active = holder(project)
    assert active, project.logs("beat")[-3000:]
    since = time.time()
    time.sleep(12 * CANARY_INTERVAL)
    counts = canaries_received(project, since)
    window = time.time() - since
    # One beat sends every CANARY_INTERVAL s; two would send twice as many.
    for queue, count in counts.items():
        assert window / CANARY_INTERVAL - 3 <= count <= window / CANARY_INTERVAL + 1, (
            queue,
            count,
            window,
        )

    docker("kill", active)
    killed = time.monotonic()
    deadline = killed + LOCK_TIMEOUT + 20
    while (new := holder(project)) in (None, active):
        assert time.monotonic() < deadline, project.logs("beat")[-3000:]
        time.sleep(0.2)
    took = time.monotonic() - killed
    after = time.time()
    time.sleep(3 * CANARY_INTERVAL)

    assert new != active
    assert took <= LOCK_TIMEOUT + 3
    assert all(count >= 1 for count in canaries_received(project, after).values())
    report.add(
        f"Two beats: canaries {counts} in {window:.0f} s ({CANARY_INTERVAL} s apart, "
        "none doubled); "
        f"the standby took over {took:.1f} s after `docker kill` of the sender "
        f"(lock {LOCK_TIMEOUT} s)"
    )


def firing(production: Production) -> dict[tuple[str, str], str]:
    """What Alertmanager holds: (alert name, its queue or else its worker) -> active or
    suppressed."""
    answer = requests.get(f"{production.alertmanager}/api/v2/alerts", timeout=5)
    answer.raise_for_status()
    held = {}
    for alert in answer.json():
        labels = alert["labels"]
        subject = labels.get("queue") or labels.get("worker", "")
        held[labels["alertname"], subject] = alert["status"]["state"]
    return held


def wait_for(predicate: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not predicate():
        assert time.monotonic() - started < timeout, f"not within {timeout:.0f} s: {what}"
        time.sleep(1)
    return time.monotonic() - started


def test_metrics_stay_inside_and_alerts_fire_and_resolve(production, report):
    project = production.project

    # Every kind of process scraped (web, worker-io, worker-cpu, beat), each replica on its own
    def targets_up() -> bool:
        answer = requests.get(f"{production.prometheus}/api/v1/targets", timeout=5).json()
        jobs = [t["labels"]["job"] for t in answer["data"]["activeTargets"] if t["health"] == "up"]
        return {"web", "worker-io", "worker-cpu", "beat"} <= set(jobs) and jobs.count(
            "worker-io"
        ) == 2

    wait_for(targets_up, 60, "every process scraped")
    # and /metrics is not served on the public side
    assert production.get("/metrics").status_code == 404
    assert not [alert for alert in firing(production) if alert[0].startswith("Celery")]

    # When worker-cpu stops, the worker-down alert reaches Alertmanager; it resolves once back
    project.run("stop", "worker-cpu")
    down = wait_for(
        lambda: ("CeleryWorkerDown", "worker-cpu") in firing(production), 60, "worker-cpu down"
    )
    project.run("start", "worker-cpu")
    back = wait_for(
        lambda: ("CeleryWorkerDown", "worker-cpu") not in firing(production), 90, "worker-cpu back"
    )
    report.add(
        f"Alerts: CeleryWorkerDown reached Alertmanager {down:.0f} s after worker-cpu stopped, "
        f"resolved {back:.0f} s after it started"
    )

    # When io is flooded while its workers are paused, the queue-age alert fires, then resolves
    io = project.containers("worker-io", all_states=False)
    docker("pause", *io)
    try:
        production.shell(
            "from ops.tasks import probe; [probe.delay() for _ in range(200)]; print(1)"
        )
        aged = wait_for(
            lambda: ("CeleryQueueAgeHigh", "io") in firing(production), 30, "io's age alert"
        )
    finally:
        docker("unpause", *io)
    drained = wait_for(
        lambda: ("CeleryQueueAgeHigh", "io") not in firing(production), 60, "io drained"
    )
    report.add(
        f"Alerts: CeleryQueueAgeHigh (io, past {IO_AGE_THRESHOLD} s) reached Alertmanager "
        f"{aged:.0f} s after the flood, resolved {drained:.0f} s after the workers resumed"
    )
    # (the worker-down alert never came for worker-io: a pause shorter than its heartbeat window)
    assert ("CeleryWorkerDown", "worker-io") not in firing(production)
