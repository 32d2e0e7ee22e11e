"""Fast checks of the production stack's files (docker-compose.prod.yml, the Caddyfile, the backup
scripts); ``make test-compose`` runs the stack itself (tests/compose/test_production.py)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from devstack.compose import COMPOSE_FILES, REPO_DIR, VARIABLE

PRODUCTION = REPO_DIR / "docker-compose.prod.yml"
CADDYFILE = REPO_DIR / "deploy" / "caddy" / "Caddyfile"
EXAMPLE = (REPO_DIR / ".env.example").read_text()
# The limits' variables are documented as a pattern: <SERVICE>_CPUS and <SERVICE>_MEMORY.
LIMIT = re.compile(r"[A-Z_]+_(CPUS|MEMORY)")


def production() -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = yaml.safe_load(PRODUCTION.read_text())["services"]
    return found


def test_every_variable_of_the_production_files_is_documented():
    used = {m["name"] for m in VARIABLE.finditer(PRODUCTION.read_text()) if m["name"]}
    used |= set(re.findall(r"\{\$([A-Z0-9_]+)", CADDYFILE.read_text()))
    documented = set(re.findall(r"^#? ?([A-Z][A-Z0-9_]+)=", EXAMPLE, flags=re.MULTILINE))

    undocumented = {name for name in used - documented if not LIMIT.fullmatch(name)}
    assert not undocumented, f"document these in .env.example: {sorted(undocumented)}"
    assert "<SERVICE>_CPUS" in EXAMPLE
    assert "<SERVICE>_MEMORY" in EXAMPLE


def test_every_service_gets_log_rotation_and_limits():
    base = yaml.safe_load(COMPOSE_FILES[0].read_text())["services"]
    prod = production()

    assert set(base) <= set(prod)
    for name, spec in prod.items():
        limits = spec["deploy"]["resources"]["limits"]
        assert set(limits) == {"cpus", "memory"}, name
        assert spec["logging"]["options"]["max-size"], name
        restart = spec.get("restart", base.get(name, {}).get("restart"))
        assert restart == ("no" if name == "migrate" else "unless-stopped"), name


def test_only_the_proxy_publishes_ports_and_flower_is_behind_it():
    prod = production()

    assert {name for name, spec in prod.items() if "ports" in spec} == {
        "proxy",
        "prometheus",
        "alertmanager",
    }
    container_ports = {port.rsplit(":", 1)[1] for port in prod["proxy"]["ports"]}
    assert container_ports == {"80", "443", "443/udp"}
    # Prometheus and Alertmanager on the host's loopback only (reached through an SSH tunnel)
    for service in ("prometheus", "alertmanager"):
        assert all(port.startswith("127.0.0.1:") for port in prod[service]["ports"]), service
    assert prod["flower"]["profiles"] == ["flower"]
    assert "reverse_proxy flower:5555" in CADDYFILE.read_text()


def test_the_caddyfile_caches_exactly_the_names_collectstatic_hashes(collected_static: Path):
    pattern = re.search(r"@hashed path_regexp (\S+)", CADDYFILE.read_text())
    assert pattern
    hashed = re.compile(pattern[1])
    paths = json.loads((collected_static / "staticfiles.json").read_text())["paths"]

    assert len(paths) > 50
    assert all(hashed.search(f"/static/{name}") for name in paths.values())
    assert not any(hashed.search(f"/static/{name}") for name in paths)
    assert all((collected_static / name).exists() for name in paths.values())


def run_backup(tmp_path: Path, dump: str) -> subprocess.CompletedProcess[str]:
    """backup.sh once, into ``tmp_path/backups``, with ``dump`` as pg_dump's shell body (the
    database itself is the container tests' part; this is the script's own logic)."""
    tools = tmp_path / "bin"
    tools.mkdir(exist_ok=True)
    (tools / "pg_dump").write_text(f"#!/bin/sh\n{dump}\n")
    # pg_restore --list reads a dump whole: here, one that says "complete".
    (tools / "pg_restore").write_text('#!/bin/sh\ngrep -q complete "$2"\n')
    for tool in tools.iterdir():
        tool.chmod(0o755)
    return subprocess.run(
        ["sh", str(REPO_DIR / "deploy" / "backup" / "backup.sh"), "once"],
        env={
            "PATH": f"{tools}:/usr/bin:/bin",
            "BACKUP_DIR": str(tmp_path / "backups"),
            "PGDATABASE": "app",
            "BACKUP_KEEP_DAYS": "14",
        },
        capture_output=True,
        text=True,
        timeout=30,
    )


def aged(path: Path, days: float) -> Path:
    path.write_text("complete")
    stamp = time.time() - days * 86400
    os.utime(path, (stamp, stamp))
    return path


@pytest.mark.kernel_clock
def test_a_backup_deletes_dumps_past_their_days_but_never_the_newest(tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    old = aged(backups / "app-20261001T000000Z.dump", 30)
    recent = aged(backups / "app-20261125T000000Z.dump", 6)
    copied_by_hand = aged(backups / "other-20260101T000000Z.dump", 300)

    result = run_backup(tmp_path, 'echo complete > "${2#--file=}"')

    assert result.returncode == 0, result.stderr
    made = [p for p in backups.glob("app-*.dump") if p not in (old, recent)]
    assert len(made) == 1
    assert not old.exists()
    assert recent.exists()
    assert copied_by_hand.exists()
    assert not list(backups.glob("*.partial"))


def test_a_failed_or_truncated_dump_keeps_every_earlier_one(tmp_path):
    backups = tmp_path / "backups"
    backups.mkdir()
    only = aged(backups / "app-20261001T000000Z.dump", 30)

    failed = run_backup(tmp_path, 'echo partial > "${2#--file=}"; exit 1')
    truncated = run_backup(tmp_path, 'echo partial > "${2#--file=}"')

    for result in (failed, truncated):
        assert result.returncode == 1
        assert "pg_dump failed; the earlier dumps are kept" in result.stderr
    assert sorted(p.name for p in backups.iterdir()) == [only.name]


def test_the_backup_scripts_are_valid_posix_shell():
    for script in ("backup.sh", "restore.sh"):
        path = REPO_DIR / "deploy" / "backup" / script
        result = subprocess.run(["sh", "-n", str(path)], capture_output=True, text=True)
        assert result.returncode == 0, (script, result.stderr)
