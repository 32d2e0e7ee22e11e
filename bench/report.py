"""``make bench``: every benchmark in one run, each group's figures written into its doc.

    .venv/bin/python bench/report.py [--database-url URL] [--only NAME ...] [--dry-run]

The benchmarks come in groups, one folder of bench/ each with a ``benchmarks.py``: the starter's
tasks (bench/starter) and each app's (bench/<app>), the latter only while the app is there. A
group's ``BENCHMARKS`` names its scripts, ``DOC`` the page of docs/ its figures go into (the
starter's: docs/benchmarks.md; an app's: its own doc), ``sections`` writes its part of that page
and ``memory_rows`` its rows of the page's memory table. The benchmarks run one after the other,
each with its own private Redis and PostgreSQL; in each page written, the part between the two
``bench:`` markers is replaced. Figures from other runs are never mixed in: a benchmark that is
skipped is left out of its page, and a page none of whose benchmarks ran is left as it was.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DOCS = REPO / "docs"
START = "<!-- bench:start (written by `make bench`: bench/report.py) -->"
END = "<!-- bench:end -->"
# The group whose benchmarks lead the page: the tasks every project keeps.
FIRST_GROUP = "starter"


@dataclass(frozen=True)
class Group:
    name: str
    folder: Path
    module: ModuleType

    @property
    def benchmarks(self) -> dict[str, str]:
        return dict(self.module.BENCHMARKS)

    @property
    def doc(self) -> str:
        """The page of docs/ this group's figures go into."""
        return str(self.module.DOC)


def groups() -> list[Group]:
    """Each folder of bench/ with a benchmarks.py whose app is in backend/, the starter's first."""
    found = []
    for path in sorted(BENCH_DIR.glob("*/benchmarks.py")):
        name = path.parent.name
        if not (REPO / "backend" / name / "apps.py").exists():
            continue  # its app was removed (docs/operations.md)
        spec = importlib.util.spec_from_file_location(f"bench_{name}_benchmarks", path)
        assert spec is not None
        assert spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        found.append(Group(name, path.parent, module))
    return sorted(found, key=lambda group: group.name != FIRST_GROUP)


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    memory_kib = int(Path("/proc/meminfo").read_text().split()[1])

    def version(*command: str) -> str:
        try:
            out = subprocess.run(command, capture_output=True, text=True, check=False).stdout
        except OSError:
            return "?"
        return out.strip().splitlines()[0] if out.strip() else "?"

    from devstack.postgres_server import postgres_binary

    return {
        "cpu": f"{os.cpu_count()} x {cpu}",
        "memory": f"{memory_kib / 1024 / 1024:.0f} GiB",
        "kernel": platform.release(),
        "python": platform.python_version(),
        "postgres": version(postgres_binary("postgres"), "--version"),
        "redis": version("redis-server", "--version").split(" sha=")[0],
        "load_before": " ".join(f"{x:.2f}" for x in os.getloadavg()),
    }


def run(name: str, script: Path, out: Path, database_url: str | None) -> dict[str, Any]:
    command = [sys.executable, str(script), "--json", str(out)]
    if database_url:
        command += ["--database-url", database_url]
    print(f"\n== {name}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    subprocess.run(command, check=True, cwd=REPO)
    result: dict[str, Any] = json.loads(out.read_text())
    result["_seconds"] = round(time.monotonic() - started)
    return result


def write(doc: Path, page: str) -> None:
    """Replace the part of ``doc`` between the two ``bench:`` markers with ``page``."""
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    doc.write_text(pattern.sub(lambda _: f"{START}\n{page}\n{END}", doc.read_text()))


def main() -> int:
    sys.path[:0] = [str(REPO / "backend"), str(REPO)]
    present = groups()
    names = [name for group in present for name in group.benchmarks]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--only", nargs="+", choices=names, default=None)
    parser.add_argument("--docs", type=Path, default=DOCS, help="the folder of the pages")
    parser.add_argument("--dry-run", action="store_true", help="list what would run, and stop")
    args = parser.parse_args()

    planned = [
        (group, name, group.folder / script)
        for group in present
        for name, script in group.benchmarks.items()
        if not args.only or name in args.only
    ]
    for doc in {args.docs / group.doc for group, _name, _script in planned}:
        if START not in doc.read_text() or END not in doc.read_text():
            raise SystemExit(f"{doc} has no {START} ... {END} block to replace")
    if args.dry_run:
        for group, name, script in planned:
            print(f"{name}: {script.relative_to(REPO)} -> docs/{group.doc}")
        return 0
    started = time.monotonic()
    info = machine()
    results: dict[str, dict[str, Any]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-report-"))
    for _group, name, script in planned:
        results[name] = run(name, script, workdir / f"{name}.json", args.database_url)
    info["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    info["minutes"] = f"{(time.monotonic() - started) / 60:.1f}"
    (workdir / "machine.json").write_text(json.dumps(info, indent=2))

    from render import render

    pages: dict[str, tuple[list[str], list[str]]] = {}
    for group in present:
        ran = {name: results[name] for name in group.benchmarks if name in results}
        if ran:
            sections, memory_rows = pages.setdefault(group.doc, ([], []))
            sections += group.module.sections(ran, args.docs)
            memory_rows += getattr(group.module, "memory_rows", lambda _: [])(ran)
    for name, (sections, memory_rows) in pages.items():
        write(args.docs / name, render(info, sections, memory_rows))
    print(f"\nwrote {', '.join(pages)} ({info['minutes']} min); raw figures in {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
