"""systemd units for hosts without Docker, generated from the deployable Compose file and the
worker topology, so they never drift from either (``make systemd-units`` writes deploy/systemd/;
a test fails when the committed units differ). docs/deployment.md, "Hosts without Docker".
"""

from __future__ import annotations

import argparse
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from config.topology import WORKERS
from devstack.compose import (
    COMPOSE_FILES,
    CONTAINER_ONLY_VARIABLES,
    REPO_DIR,
    VARIABLE,
    documents,
)
from devstack.generated import replace_files

OUTPUT_DIR = REPO_DIR / "deploy" / "systemd"
# The long-running services, in deploy order after the migration.
SERVICES = ("web", *(worker.service for worker in WORKERS), "beat")
PROGRAMS = ("celery", "gunicorn", "python")
# Compose gives each container its own /tmp; beat's schedule file belongs in a state directory.
BEAT_STATE = "/var/lib/{name}-beat"
# The image collects static files at build time; here the migration unit collects them where web
# (WhiteNoise) reads them, a state directory the app user may write.
STATIC_STATE = "/var/lib/{name}-static"


@dataclass(frozen=True)
class Layout:
    """Where the checkout and its virtualenv live on the host, and who runs the services."""

    name: str = "app"
    prefix: str = "/opt/app"
    user: str = "app"

    def unit(self, service: str) -> str:
        return f"{self.name}-{service}.service"


def _compose_services() -> dict[str, dict[str, Any]]:
    """The deployable file's services, anchors and merge keys resolved by the YAML loader."""
    services: dict[str, dict[str, Any]] = documents(COMPOSE_FILES[:1])[0]["services"]
    return services


def _seconds(duration: str) -> int:
    """A Compose duration such as ``75s`` or ``1m30s`` in seconds."""
    parts = re.findall(r"(\d+)(h|m|s)", duration)
    if not parts or "".join(n + u for n, u in parts) != duration:
        raise ValueError(f"unsupported duration {duration!r}")
    return sum(int(n) * {"h": 3600, "m": 60, "s": 1}[u] for n, u in parts)


def _argument(arg: str, defaults: dict[str, str]) -> str:
    """One command argument in systemd's syntax: Compose's ``${VAR:-default}`` becomes
    ``${VAR}`` with the default set in ``Environment=``; ``%`` (Celery's ``%h``) is escaped."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$$"
        if match["op"] in (":-", "-"):
            defaults.setdefault(match["name"], match["arg"] or "")
        return "${" + match["name"] + "}"

    converted = VARIABLE.sub(replace, arg).replace("%", "%%")
    return f'"{converted}"' if re.search(r"[\s\"'\\]", converted) else converted


def _resolved(value: str) -> str:
    """An environment value with Compose's defaults applied (systemd does not expand these)."""
    return VARIABLE.sub(lambda m: "$" if m["escaped"] else (m["arg"] or ""), value)


def _environment(spec: dict[str, Any]) -> dict[str, str]:
    raw = spec.get("environment") or {}
    return {
        key: _resolved(str(value))
        for key, value in raw.items()
        if key not in CONTAINER_ONLY_VARIABLES
    }


# One host: each process serving metrics gets a port of its own, from Compose's (each container
# has the same one): worker-io 9101, worker-cpu 9102, beat 9103.
METRICS_SERVICES = (*(worker.service for worker in WORKERS), "beat")


def _service_unit(service: str, spec: dict[str, Any], layout: Layout) -> str:
    defaults: dict[str, str] = {}
    command = [_argument(str(arg), defaults) for arg in spec["command"]]
    if command[0] in PROGRAMS:
        command[0] = f"{layout.prefix}/.venv/bin/{command[0]}"
    environment = _environment(spec)
    if "METRICS_PORT" in environment and service in METRICS_SERVICES:
        port = int(environment["METRICS_PORT"]) + METRICS_SERVICES.index(service)
        environment["METRICS_PORT"] = str(port)
    oneshot = service == "migrate"
    state: list[str] = []
    if service == "web":
        # Only the proxy on this host reaches gunicorn (Compose keeps it inside its network).
        defaults["WEB_BIND"] = "127.0.0.1:8000"
    pre: list[str] = []
    if service in ("migrate", "web"):
        static = STATIC_STATE.format(name=layout.name)
        defaults["DJANGO_STATIC_ROOT"] = static
        state = [f"StateDirectory={Path(static).name}"]
    if oneshot:
        collect = [command[0], "manage.py", "collectstatic", "--noinput", "--verbosity=0"]
        pre = [f"ExecStartPre={' '.join(collect)}"]
    if service == "beat":
        directory = BEAT_STATE.format(name=layout.name)
        defaults["CELERY_BEAT_SCHEDULE_FILE"] = f"{directory}/celerybeat-schedule"
        state = [f"StateDirectory={Path(directory).name}"]
    worker = next((w for w in WORKERS if w.service == service), None)
    what = " ".join(str(arg) for arg in spec["command"][:4])
    if worker is not None:
        what = f"celery worker -Q {','.join(worker.queues)} -P {worker.pool}"
    lines = [
        "# Generated by `make systemd-units` from docker-compose.yml and config/topology.py:",
        '# change those and regenerate. docs/deployment.md, "Hosts without Docker".',
        "[Unit]",
        f"Description={layout.name} {service} ({what})",
        "Wants=network-online.target",
        "After=network-online.target redis-server.service postgresql.service"
        + ("" if oneshot else f" {layout.unit('migrate')}"),
        f"PartOf={layout.name}.target",
        "",
        "[Service]",
        f"Type={'oneshot' if oneshot else 'exec'}",
        f"User={layout.user}",
        f"Group={layout.user}",
        f"WorkingDirectory={layout.prefix}/backend",
        # Defaults first: the environment file (the same .env as Compose) overrides them.
        *(f"Environment={key}={value}" for key, value in sorted(defaults.items())),
        *(f"Environment={key}={value}" for key, value in sorted(environment.items())),
        f"EnvironmentFile=-{layout.prefix}/.env",
        *state,
        *pre,
        f"ExecStart={' '.join(command)}",
    ]
    if oneshot:
        lines.append("TimeoutStartSec=15min")
    else:
        lines += [
            # SIGTERM to the main process only, as Docker's init does: Celery and gunicorn stop
            # their children themselves (a prefork child must not get it directly).
            "KillMode=mixed",
            "KillSignal=SIGTERM",
            f"TimeoutStopSec={_seconds(str(spec.get('stop_grace_period', '10s')))}",
            "Restart=always",
            "RestartSec=5",
        ]
    if "cpu_shares" in spec:
        # Compose's relative weight (1024 = default) in systemd's scale (100 = default).
        lines.append(f"CPUWeight={max(1, round(int(spec['cpu_shares']) * 100 / 1024))}")
    lines += [
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectSystem=full",
        "",
        "[Install]",
        f"WantedBy={layout.name}.target",
        "",
    ]
    return "\n".join(lines)


def _target(layout: Layout) -> str:
    return "\n".join(
        [
            "# Generated by `make systemd-units`. `systemctl enable --now "
            f"{layout.name}.target` starts, and",
            "# starts at boot, the migration, then web, the workers and beat.",
            "[Unit]",
            f"Description={layout.name}: migrate, web, workers and beat",
            "",
            "[Install]",
            "WantedBy=multi-user.target",
            "",
        ]
    )


def units(layout: Layout = Layout()) -> dict[str, str]:
    """File name → contents of every unit."""
    compose = _compose_services()
    generated = {
        layout.unit(service): _service_unit(service, compose[service], layout)
        for service in ("migrate", *SERVICES)
    }
    generated[f"{layout.name}.target"] = _target(layout)
    return generated


def write(directory: Path, layout: Layout = Layout()) -> list[Path]:
    return replace_files(directory, f"{layout.name}*", units(layout))


def exec_start(unit_text: str, environ: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """A unit's ``ExecStart`` as systemd runs it: its ``Environment=`` lines, then ``environ``
    (standing in for the environment file), expanded into the command."""
    env: dict[str, str] = {}
    command = ""
    for line in unit_text.splitlines():
        if line.startswith("Environment="):
            key, _, value = line.removeprefix("Environment=").partition("=")
            env[key] = value
        elif line.startswith("ExecStart="):
            command = line.removeprefix("ExecStart=")
    env.update(environ)

    def expand(arg: str) -> str:
        arg = re.sub(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", lambda m: env.get(m[1], ""), arg)
        return arg.replace("%%", "%").replace("$$", "$")

    return [expand(arg) for arg in shlex.split(command)], env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--name", default=Layout.name, help="unit prefix (default: %(default)s)")
    parser.add_argument("--prefix", default=Layout.prefix, help="the checkout on the host")
    parser.add_argument("--user", default=Layout.user, help="the user the services run as")
    parser.add_argument("--output", type=Path, default=OUTPUT_DIR)
    args = parser.parse_args()
    layout = Layout(name=args.name, prefix=args.prefix, user=args.user)
    for path in write(args.output, layout):
        print(path)


if __name__ == "__main__":
    main()
