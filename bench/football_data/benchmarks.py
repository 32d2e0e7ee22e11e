"""The football_data app's benchmarks (`make bench`, bench/report.py): what runs, and its part of
docs/football_data.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from render import mib, range_text

# The page of docs/ these figures go into.
DOC = "football_data.md"
# name: the script in this folder
BENCHMARKS = {"settlement": "settlement.py"}


def sections(results: dict[str, dict[str, Any]], docs: Path) -> list[str]:
    """This app's part of docs/football_data.md, for the benchmarks that ran."""
    return _settlement(results["settlement"]) if "settlement" in results else []


def _settlement(se: dict[str, Any]) -> list[str]:
    one, two = se["concurrency"]["1"], se["concurrency"]["2"]
    ratios = se["ratios"]["2"]
    rates_1 = [r["tickets_per_s"] for r in one["runs"]]
    rates_2 = [r["tickets_per_s"] for r in two["runs"]]
    cpu_1 = [r["worker_cpu_ms_per_ticket"] for r in one["runs"]]
    cpu_2 = [r["worker_cpu_ms_per_ticket"] for r in two["runs"]]
    per_run = ", ".join(f"{x:.2f}" for x in ratios["per_run"])
    return [
        "### Settlement on worker-cpu, c=2 against c=1 (`bench/football_data/settlement.py`)",
        "",
        f"{se['tickets']:,} open tickets on decided matches, settled by `settle_tickets` in chunks"
        f" of {se['chunk_size']}, {se['repeat']} runs at each concurrency on one worker (the"
        " tickets are reopened between runs).",
        "",
        "| | c=1 | c=2 |",
        "|---|---|---|",
        f"| tickets/s | {range_text(rates_1)} | {range_text(rates_2)} |",
        f"| worker CPU per ticket | {range_text(cpu_1, '{:.2f}')} ms"
        f" | {range_text(cpu_2, '{:.2f}')} ms |",
        "",
        f"c=2 / c=1 per run: {per_run}; **median {ratios['median']:.2f}** (ratio of the median"
        f" rates: {ratios['of_median_rates']:.2f}).",
        "",
    ]


def memory_rows(results: dict[str, dict[str, Any]]) -> list[str]:
    """This app's rows of the page's memory table."""
    rows = []
    if "settlement" in results:
        for c, figures in results["settlement"]["concurrency"].items():
            first, last = figures["idle_after_first_run"], figures["idle_after_last_run"]
            rows.append(
                f"| worker-cpu (prefork, -c {c}) | {mib(figures['idle'])} |"
                f" {mib(figures['peak'])} | settlement | idle {mib(first)} after the first"
                f" run, {mib(last)} after the last |"
            )
    return rows
