"""`make run`: the whole system on this machine, without Docker.

Starts web, worker-io, worker-cpu and beat (plus the dev-only services the override file marks
with the label ``local-run``) with the commands from the Compose files, against SQLite unless
DATABASE_URL/POSTGRES_HOST is set, and a Redis: the one REDIS_HOST/REDIS_PORT point at if it
answers, or a private redis-server started here. Everything listens on 127.0.0.1 (web on
WEB_PORT, 8000 by default). A bad configuration ends the run with its one line before anything
else starts. Ctrl-C stops everything, workers first with their soft shutdown.
"""

from __future__ import annotations

import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from types import FrameType

import redis
from dotenv import dotenv_values
from redis.backoff import NoBackoff
from redis.retry import Retry

from devstack.compose import REPO_DIR, InterpolationError, Service, load_services, services_labelled
from devstack.processes import ServiceProcess, service_environment, stop_all
from devstack.redis_server import PrivateRedis

APP_SERVICES = ("web", "worker-io", "worker-cpu", "beat")
LOCAL_RUN_LABEL = "local-run"
# Where the Compose files address web (http://web:8000, loopback once localized).
COMPOSE_WEB_ADDRESS = re.compile(r"//127\.0\.0\.1:8000(?![0-9])")


class StartError(Exception):
    """Why the run cannot start, in one line for the terminal (a traceback would bury it)."""


def local_environment() -> dict[str, str]:
    """The real environment over .env, as config.settings reads them."""
    file_values: dict[str, str] = {}
    if not os.environ.get("DOTENV_DISABLED"):
        values = dotenv_values(REPO_DIR / ".env", interpolate=False)
        file_values = {k: v for k, v in values.items() if v is not None}
    env = {**file_values, **os.environ}
    env.setdefault("DJANGO_DEBUG", "1")
    return env


def port_number(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not re.fullmatch(r"[0-9]+", value) or not 0 < int(value) < 65536:
        raise StartError(
            f"Configuration error: {name} must be a port number (1-65535), got {value!r}."
        )
    return int(value)


def free_web_port(env: Mapping[str, str]) -> int:
    """WEB_PORT (as for Compose), refused up front if something already listens there."""
    port = port_number(env, "WEB_PORT", 8000)
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as gunicorn binds
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            raise StartError(
                f"devstack: 127.0.0.1:{port} is in use; set WEB_PORT to move web"
                " (e.g. `WEB_PORT=8001 make run`)."
            ) from None
    return port


def on_loopback(services: dict[str, Service], web_port: int) -> dict[str, Service]:
    """Web on 127.0.0.1:``web_port``, whatever addresses web (a dev-only service calling it back)
    following it, the dev-only services on 127.0.0.1 (Compose has them listen on every
    interface), and each process serving metrics on a port of its own, from METRICS_PORT up
    (each container has the same one)."""
    web = f"//127.0.0.1:{web_port}"
    moved = {}
    serving = [s for s in services.values() if s.environment.get("METRICS_PORT", "0") != "0"]
    metrics_ports = itertools.count(int(serving[0].environment["METRICS_PORT"]) if serving else 0)
    for name, service in services.items():
        command = tuple(COMPOSE_WEB_ADDRESS.sub(web, arg) for arg in service.command)
        environment = {k: COMPOSE_WEB_ADDRESS.sub(web, v) for k, v in service.environment.items()}
        if environment.get("METRICS_PORT", "0") != "0":
            environment["METRICS_PORT"] = str(next(metrics_ports))
        if name == "web":
            environment["WEB_BIND"] = f"127.0.0.1:{web_port}"
        elif service.labels.get(LOCAL_RUN_LABEL) == "true":
            command = (*command, "--host=127.0.0.1")
        moved[name] = replace(service, command=command, environment=environment)
    return moved


def reachable_redis(env: dict[str, str]) -> bool:
    client = redis.Redis(
        host=env.get("REDIS_HOST", "127.0.0.1"),
        port=port_number(env, "REDIS_PORT", 6379),
        password=env.get("REDIS_PASSWORD") or None,
        socket_connect_timeout=1,
        # One try: redis-py's default retries take seconds to say that nothing answers.
        retry=Retry(NoBackoff(), 0),
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def redis_for_run(env: dict[str, str]) -> PrivateRedis | None:
    """The Redis REDIS_HOST/REDIS_PORT point at if it answers, else a private redis-server
    (returned, to be stopped, with ``env`` pointed at it)."""
    if reachable_redis(env):
        print(
            "devstack: using Redis at "
            f"{env.get('REDIS_HOST', '127.0.0.1')}:{env.get('REDIS_PORT', '6379')}"
        )
        return None
    # Kept under var/ with AOF, like the Compose volume: queued work survives a restart.
    var_dir = Path(env.get("DEVSTACK_VAR_DIR") or REPO_DIR / "var")
    try:
        private = PrivateRedis(var_dir / "redis").start()
    except RuntimeError as error:
        raise StartError(f"devstack: {error}") from None
    env.update(REDIS_HOST="127.0.0.1", REDIS_PORT=str(private.port))
    env.pop("REDIS_PASSWORD", None)
    env.pop("CELERY_BROKER_URL", None)
    print(f"devstack: started a private redis-server on 127.0.0.1:{private.port}")
    return private


def run_to_end(command: list[str], env: dict[str, str]) -> int:
    """A step's exit status (1 for one a signal ended)."""
    code = subprocess.run(command, cwd=REPO_DIR / "backend", env=env, check=False).returncode
    return 1 if code < 0 else code


def prepare(services: dict[str, Service], env: dict[str, str]) -> int:
    """Migrate, then check web's gunicorn configuration: both exit with the one line naming a
    bad variable (config/__init__.py, gunicorn), before anything long-running starts."""
    migrate, web = services["migrate"], services["web"]
    print("devstack: " + " ".join(migrate.command))
    code = run_to_end(list(migrate.command), service_environment(migrate, env))
    if code == 0:
        check = [web.command[0], "--check-config", *web.command[1:]]
        code = run_to_end(check, service_environment(web, env))
    return code


def run(env: dict[str, str]) -> int:
    web_port = free_web_port(env)
    names = [*APP_SERVICES, *services_labelled(LOCAL_RUN_LABEL)]
    try:
        services = on_loopback(load_services(env, ["migrate", *names]), web_port)
    except InterpolationError as error:
        raise StartError(f"Configuration error: {error}") from None

    private = redis_for_run(env)
    processes: list[ServiceProcess] = []
    try:
        code = prepare(services, env)
        if code != 0:
            return code
        for name in names:
            service = services[name]
            processes.append(
                ServiceProcess(service, service_environment(service, env), sys.stdout).start()
            )
        stopping = False

        def request_stop(signum: int, frame: FrameType | None) -> None:
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        reported: set[str] = set()
        while not stopping:
            for process in processes:
                if not process.alive() and process.name not in reported:
                    reported.add(process.name)
                    print(f"devstack: {process.name} exited ({process.wait(0)})")
            time.sleep(0.5)
    finally:
        if processes:
            print("devstack: stopping (workers get their soft shutdown)...")
            stop_all(processes)
        if private is not None:
            private.stop()
    return 0


def main() -> int:
    try:
        return run(local_environment())
    except StartError as error:
        print(error, file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
