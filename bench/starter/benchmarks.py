"""The starter tasks' benchmarks (`make bench`, bench/report.py), in every project: what runs, and
its part of docs/benchmarks.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from render import range_text

# The page of docs/ these figures go into.
DOC = "benchmarks.md"
# name: the script in this folder
BENCHMARKS = {"starter-io": "io_task.py", "starter-cpu": "cpu_scaling.py"}


def sections(results: dict[str, dict[str, Any]], docs: Path) -> list[str]:
    """This group's part of docs/benchmarks.md, for the benchmarks that ran."""
    lines: list[str] = []
    if "starter-io" in results:
        lines += _io(results["starter-io"])
    if "starter-cpu" in results:
        lines += _cpu(results["starter-cpu"])
    return lines


def _io(io: dict[str, Any]) -> list[str]:
    ours, bare = io["runs"]["check_url"], io["runs"]["bare"]
    return [
        "### The starter's I/O task against a bare Celery task (`bench/starter/io_task.py`)",
        "",
        f"`check_url` {io['tasks']:,} times against a local server answering after"
        f" {io['latency'] * 1000:.0f} ms, on worker-io at `-c {io['concurrency']}`; then the same"
        " GET as a bare Celery task on the same pool and concurrency (`bench/bare_app.py`,"
        f" `bare.fetch`: no Django, no result). Each {io['repeat']} times, interleaved.",
        "",
        "| task | calls/s | worker CPU per call |",
        "|---|---|---|",
        f"| `check_url` on worker-io | {range_text([r['calls_per_s'] for r in ours])}"
        f" | {range_text([r['cpu_ms_per_call'] for r in ours], '{:.2f}')} ms |",
        f"| bare task | {range_text([r['calls_per_s'] for r in bare])}"
        f" | {range_text([r['cpu_ms_per_call'] for r in bare], '{:.2f}')} ms |",
        f"| limit: c / latency | {io['limit']:.0f} | |",
        "",
        f"`check_url` / bare per repetition: {', '.join(f'{x:.2f}' for x in io['vs_bare'])}.",
        "",
    ]


def _cpu(cpu: dict[str, Any]) -> list[str]:
    one, two = cpu["runs"]["1"], cpu["runs"]["2"]
    return [
        "### The starter's CPU task, c=2 against c=1 (`bench/starter/cpu_scaling.py`)",
        "",
        f"`count_primes({cpu['limit']:,})` {cpu['tasks']} times on worker-cpu (prefork) at"
        f" `-c 1` and `-c 2`, {cpu['repeat']} runs each, interleaved.",
        "",
        "| | c=1 | c=2 |",
        "|---|---|---|",
        f"| tasks/s | {range_text([r['tasks_per_s'] for r in one], '{:.2f}')}"
        f" | {range_text([r['tasks_per_s'] for r in two], '{:.2f}')} |",
        f"| worker CPU per task | {range_text([r['cpu_ms_per_task'] for r in one])} ms"
        f" | {range_text([r['cpu_ms_per_task'] for r in two])} ms |",
        "",
        f"c=2 / c=1 per run: {', '.join(f'{x:.2f}' for x in cpu['ratios'])};"
        f" **median {cpu['median_ratio']:.2f}** (2.00 is the ceiling on two cores).",
        "",
    ]
