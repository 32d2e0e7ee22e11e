"""``make bench``: every benchmark in one run, written into docs/benchmarks.md with a chart.

    .venv/bin/python bench/report.py [--database-url URL] [--only limits io stagger webhook ...]

Runs each benchmark of an app that is still there (bench/limits.py, io_throughput.py,
stagger.py, webhook_ingest.py for whatsapp; settlement.py for football_data) one after the
other, each with its own private Redis and PostgreSQL, collects their figures, and replaces the
part of docs/benchmarks.md between the two ``bench:`` markers, plus docs/benchmarks-sends.png.
Figures from other runs are never mixed in: a benchmark that is skipped is left out of the page.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
REPO = BENCH_DIR.parent
DOC = REPO / "docs" / "benchmarks.md"
CHART = REPO / "docs" / "benchmarks-sends.png"
START = "<!-- bench:start (written by `make bench`: bench/report.py) -->"
END = "<!-- bench:end -->"

# name: (app folder, script)
BENCHMARKS = {
    "limits": ("whatsapp", "limits.py"),
    "io": ("whatsapp", "io_throughput.py"),
    "stagger": ("whatsapp", "stagger.py"),
    "webhook": ("whatsapp", "webhook_ingest.py"),
    "settlement": ("football_data", "settlement.py"),
}


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


def run(name: str, script: str, out: Path, database_url: str | None) -> dict[str, Any]:
    command = [sys.executable, str(BENCH_DIR / script), "--json", str(out)]
    if database_url:
        command += ["--database-url", database_url]
    print(f"\n== {name}: {' '.join(command[1:])}", flush=True)
    started = time.monotonic()
    subprocess.run(command, check=True, cwd=REPO)
    result: dict[str, Any] = json.loads(out.read_text())
    result["_seconds"] = round(time.monotonic() - started)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--only", nargs="+", choices=sorted(BENCHMARKS), default=None)
    parser.add_argument("--doc", type=Path, default=DOC)
    parser.add_argument("--dry-run", action="store_true", help="list what would run, and stop")
    args = parser.parse_args()
    sys.path[:0] = [str(REPO / "backend"), str(REPO)]

    planned = {
        name: (app, script)
        for name, (app, script) in BENCHMARKS.items()
        if (not args.only or name in args.only) and (REPO / "backend" / app / "apps.py").exists()
    }
    if args.dry_run:
        for app, script in planned.values():
            print(f"bench/{script} ({app})")
        return 0
    started = time.monotonic()
    info = machine()
    results: dict[str, dict[str, Any]] = {}
    workdir = Path(tempfile.mkdtemp(prefix="bench-report-"))
    for name, (_app, script) in planned.items():
        results[name] = run(name, script, workdir / f"{name}.json", args.database_url)
    info["load_after"] = " ".join(f"{x:.2f}" for x in os.getloadavg())
    info["minutes"] = f"{(time.monotonic() - started) / 60:.1f}"
    (workdir / "machine.json").write_text(json.dumps(info, indent=2))

    from render import chart, render

    if "io" in results:
        chart(results["io"], CHART)
    page = render(info, results, chart_name=CHART.name if "io" in results else None)
    text = args.doc.read_text() if args.doc.exists() else f"# Benchmarks\n\n{START}\n{END}\n"
    pattern = re.compile(re.escape(START) + r".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(text):
        raise SystemExit(f"{args.doc} has no {START} ... {END} block to replace")
    args.doc.write_text(pattern.sub(lambda _: f"{START}\n{page}\n{END}", text))
    print(f"\nwrote {args.doc} ({info['minutes']} min); raw figures in {workdir}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
