"""Read service commands from the Compose files, interpolating variables as Compose does."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

REPO_DIR = Path(__file__).resolve().parents[1]
COMPOSE_FILES = (REPO_DIR / "docker-compose.yml", REPO_DIR / "docker-compose.override.yml")

# Values that only make sense inside the Compose network or a container's filesystem; a local
# run supplies its own.
CONTAINER_ONLY_VARIABLES = frozenset(
    {
        "REDIS_HOST",
        "REDIS_PASSWORD",
        "POSTGRES_HOST",
        "POSTGRES_DB",
        "POSTGRES_USER",
        "POSTGRES_PASSWORD",
        "CELERY_LIVENESS_FILE",
    }
)

VARIABLE = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


class InterpolationError(ValueError):
    pass


def interpolate(value: str, environ: Mapping[str, str]) -> str:
    """Expand ``$$``, ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``."""

    def replace(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        current = environ.get(name)
        unset = current is None or (op is not None and op.startswith(":") and current == "")
        if op in (":?", "?") and unset:
            raise InterpolationError(f"{name}: {arg or 'required'}")
        if op in (":-", "-") and unset:
            return interpolate(arg, environ)
        return current or ""

    return VARIABLE.sub(replace, value)


def localize(value: str, service_names: Sequence[str]) -> str:
    """Rewrite ``//<service>:`` (a Compose network address) to loopback for a local run."""
    for name in service_names:
        value = value.replace(f"//{name}:", "//127.0.0.1:")
    return value


@dataclass(frozen=True)
class Service:
    name: str
    command: tuple[str, ...]
    environment: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


def _as_dict(value: Any) -> dict[str, str]:
    if value is None:
        return {}
    if isinstance(value, Mapping):
        return {str(k): "" if v is None else str(v) for k, v in value.items()}
    return dict(item.split("=", 1) if "=" in item else (item, "") for item in value)


def documents(files: Sequence[Path]) -> list[dict[str, Any]]:
    return [yaml.safe_load(path.read_text()) or {} for path in files if path.exists()]


def services_labelled(label: str, files: Sequence[Path] = COMPOSE_FILES) -> list[str]:
    """Names of the services carrying ``label: "true"`` in any of the files."""
    names = []
    for document in documents(files):
        for name, spec in (document.get("services") or {}).items():
            if _as_dict(spec.get("labels")).get(label) == "true" and name not in names:
                names.append(name)
    return names


def load_services(
    environ: Mapping[str, str],
    names: Sequence[str] | None = None,
    files: Sequence[Path] = COMPOSE_FILES,
) -> dict[str, Service]:
    """Services (all, or ``names``) with command and environment; later files override earlier.

    Variables listed in ``CONTAINER_ONLY_VARIABLES`` are dropped from each service's environment
    (and so never interpolated): the caller provides local values. Addresses of other services
    (``http://web:8000``) become loopback addresses.
    """
    merged: dict[str, dict[str, Any]] = {}
    for document in documents(files):
        for name, spec in (document.get("services") or {}).items():
            target = merged.setdefault(name, {"command": None, "environment": {}, "labels": {}})
            if spec.get("command") is not None:
                target["command"] = spec["command"]
            target["environment"].update(_as_dict(spec.get("environment")))
            target["labels"].update(_as_dict(spec.get("labels")))
    services: dict[str, Service] = {}
    for name, spec in merged.items():
        if names is not None and name not in names:
            continue
        command = spec["command"]
        if isinstance(command, str):
            command = command.split()
        environment = {
            key: localize(interpolate(value, environ), list(merged))
            for key, value in spec["environment"].items()
            if key not in CONTAINER_ONLY_VARIABLES
        }
        services[name] = Service(
            name=name,
            command=tuple(
                localize(interpolate(str(arg), environ), list(merged)) for arg in command or ()
            ),
            environment=environment,
            labels=spec["labels"],
        )
    return services
