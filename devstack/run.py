"""`make run`: the whole system on this machine, without Docker.

Starts web, worker-io, worker-cpu and beat (plus the dev stand-ins the override file marks with
the label ``local-run``) with the commands from the Compose files, against SQLite unless
DATABASE_URL/POSTGRES_HOST is set, and a Redis: the one REDIS_HOST/REDIS_PORT point at if it
answers, or a private redis-server started here. Ctrl-C stops everything, workers first with
their soft shutdown.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import redis
from dotenv import dotenv_values

from devstack.compose import REPO_DIR, load_services, services_labelled
from devstack.processes import ServiceProcess, service_environment, stop_all
from devstack.redis_server import PrivateRedis

APP_SERVICES = ("web", "worker-io", "worker-cpu", "beat")
LOCAL_RUN_LABEL = "local-run"


def local_environment() -> dict[str, str]:
    """The real environment over .env, as config.settings reads them."""
    file_values: dict[str, str] = {}
    if not os.environ.get("DOTENV_DISABLED"):
        values = dotenv_values(REPO_DIR / ".env", interpolate=False)
        file_values = {k: v for k, v in values.items() if v is not None}
    env = {**file_values, **os.environ}
    env.setdefault("DJANGO_DEBUG", "1")
    return env


def reachable_redis(env: dict[str, str]) -> bool:
    client = redis.Redis(
        host=env.get("REDIS_HOST", "127.0.0.1"),
        port=int(env.get("REDIS_PORT", "6379")),
        password=env.get("REDIS_PASSWORD") or None,
        socket_connect_timeout=1,
    )
    try:
        return bool(client.ping())
    except redis.RedisError:
        return False
    finally:
        client.close()


def main() -> int:
    env = local_environment()
    private: PrivateRedis | None = None
    if reachable_redis(env):
        print(
            "devstack: using Redis at "
            f"{env.get('REDIS_HOST', '127.0.0.1')}:{env.get('REDIS_PORT', '6379')}"
        )
    else:
        # Kept under var/ with AOF, like the Compose volume: queued work survives a restart.
        var_dir = Path(env.get("DEVSTACK_VAR_DIR") or REPO_DIR / "var")
        private = PrivateRedis(var_dir / "redis").start()
        env.update(REDIS_HOST="127.0.0.1", REDIS_PORT=str(private.port))
        env.pop("REDIS_PASSWORD", None)
        env.pop("CELERY_BROKER_URL", None)
        print(f"devstack: started a private redis-server on 127.0.0.1:{private.port}")

    names = [*APP_SERVICES, *services_labelled(LOCAL_RUN_LABEL)]
    services = load_services(env, ["migrate", *names])
    migrate = services["migrate"]
    print("devstack: " + " ".join(migrate.command))
    subprocess.run(
        list(migrate.command),
        cwd=REPO_DIR / "backend",
        env=service_environment(migrate, env),
        check=True,
    )

    processes = [
        ServiceProcess(services[n], service_environment(services[n], env), sys.stdout).start()
        for n in names
    ]
    stopping = False

    def request_stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    reported: set[str] = set()
    try:
        while not stopping:
            for process in processes:
                if not process.alive() and process.name not in reported:
                    reported.add(process.name)
                    print(f"devstack: {process.name} exited ({process.wait(0)})")
            time.sleep(0.5)
    finally:
        print("devstack: stopping (workers get their soft shutdown)...")
        stop_all(processes)
        if private is not None:
            private.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
