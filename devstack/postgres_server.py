"""A private, throw-away PostgreSQL server for the fault tests (``make chaos``): one they may stop
and start again, which a shared server is not."""

from __future__ import annotations

import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psycopg

from devstack.redis_server import free_port

# Debian and Ubuntu keep the server binaries off PATH, one folder a major version.
DEBIAN_BIN_GLOB = "/usr/lib/postgresql/*/bin"
# PostgreSQL refuses to run as root; as root, the server runs as this user (Debian's package
# creates it).
SERVICE_USER = "postgres"
# How the server stops: "fast" ends every session and writes a checkpoint (what Docker's stop
# signal for the postgres image, SIGINT, does); "immediate" aborts like a crash.
STOP_SIGNALS = {"fast": signal.SIGINT, "immediate": signal.SIGQUIT}


def postgres_binary(name: str) -> str:
    """``initdb`` or ``postgres`` from PATH, else from the newest Debian-style version folder."""
    found = shutil.which(name)
    if found:
        return found
    folders = sorted(glob.glob(DEBIAN_BIN_GLOB), key=_version, reverse=True)
    for folder in folders:
        candidate = Path(folder) / name
        if candidate.is_file():
            return str(candidate)
    raise RuntimeError(
        f"{name} was not found on PATH nor in {DEBIAN_BIN_GLOB}. Install the PostgreSQL server "
        "(Debian/Ubuntu: `apt-get install postgresql`, macOS: `brew install postgresql`) or point "
        "TEST_DATABASE_URL at a running PostgreSQL."
    )


def _version(folder: str) -> list[int]:
    return [int(part) for part in re.findall(r"\d+", Path(folder).parent.name)]


class PrivatePostgres:
    """A cluster in ``workdir`` on a free loopback port, trust auth, superuser ``postgres``.

    As root it runs as SERVICE_USER: ``workdir`` is given to that user and its parent made
    traversable; the folders above that must be already (the system's temporary folder is).
    """

    def __init__(self, workdir: Path, settings: dict[str, str] | None = None) -> None:
        self.workdir = workdir
        # More server settings (``-c name=value``), e.g. the benchmarks' pg_stat_statements.
        self.settings = settings or {}
        self.data = workdir / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.user = SERVICE_USER if os.geteuid() == 0 else None

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _init(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        if self.user:
            # The server's user must reach its folder: the parent may be a private temp folder.
            account = pwd.getpwnam(self.user)
            os.chown(self.workdir, account.pw_uid, account.pw_gid)
            parent = self.workdir.parent
            parent.chmod(parent.stat().st_mode | 0o111)
        subprocess.run(
            [
                postgres_binary("initdb"),
                "--pgdata", str(self.data),
                "--username", "postgres",
                "--auth", "trust",
                "--encoding", "UTF8",
                "--no-sync",
            ],
            check=True,
            stdout=subprocess.DEVNULL,
            user=self.user,
        )  # fmt: skip

    def start(self, timeout: float = 30.0) -> PrivatePostgres:
        if not (self.data / "PG_VERSION").exists():
            self._init()
        log = (self.workdir / "postgres.log").open("ab")
        self.process = subprocess.Popen(
            [
                postgres_binary("postgres"),
                "-D", str(self.data),
                "-p", str(self.port),
                "-c", "listen_addresses=127.0.0.1",
                "-c", f"unix_socket_directories={self.workdir}",
                "-c", "max_connections=200",
                # Throw-away data: no flush to disk. Every commit still reaches the page cache
                # before it returns, so even an immediate stop (a crash) loses nothing committed.
                "-c", "fsync=off",
                "-c", "full_page_writes=off",
                *(arg for item in self.settings.items() for arg in ("-c", "=".join(item))),
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            user=self.user,
        )  # fmt: skip
        log.close()
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self.url, connect_timeout=2):
                    return self
            except psycopg.OperationalError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    self.stop()
                    log_path = self.workdir / "postgres.log"
                    raise RuntimeError(
                        f"postgres did not start on port {self.port}; see {log_path}"
                    ) from None
                time.sleep(0.05)

    def stop(self, mode: str = "fast", timeout: float = 30.0) -> None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(STOP_SIGNALS[mode])
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
