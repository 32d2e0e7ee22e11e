"""A page's measured part from one ``make bench`` run: the machine, each group's
sections (bench/<group>/benchmarks.py), the memory table; and the helpers they format with."""

from __future__ import annotations

import datetime as dt

DASH = "\u2013"  # en dash, for ranges
TIMES = "\u00d7"


def range_text(values: list[float], fmt: str = "{:.0f}") -> str:
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return low if low == high else f"{low}{DASH}{high}"


def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return ordered[middle] if len(ordered) % 2 else (ordered[middle - 1] + ordered[middle]) / 2


def mib(figures: dict[str, float]) -> str:
    return f"{figures['rss_mib']:.0f} / {figures['pss_mib']:.0f} MiB"


def render(info: dict[str, str], sections: list[str], memory_rows: list[str]) -> str:
    """The page's measured part: the machine, then each group's sections, then the memory table
    from every group's rows."""
    lines = [
        f"Measured by `make bench` on {dt.date.today().isoformat()} in one run of"
        f" {info['minutes']} min: {info['cpu']}, {info['memory']}, Linux {info['kernel']},"
        f" Python {info['python']}, {info['postgres']}, {info['redis']}; load average"
        f" {info['load_before']} before and {info['load_after']} after. Each benchmark starts its"
        " own Redis and PostgreSQL (fsync off: the database's CPU, not the disk, is measured) and"
        " runs the workers with their `docker-compose.yml` commands. Every figure below comes"
        " from that one run; a ratio compares runs taken moments apart on the same machine.",
        "",
        *sections,
    ]
    if memory_rows:
        lines += [
            "### Memory",
            "",
            "RSS counts shared pages in every process; PSS divides them among the processes"
            " sharing them, so a prefork worker's PSS is what it costs. Each figure sums the"
            " worker's processes (prefork: the parent and its children). RSS / PSS where both were"
            " read.",
            "",
            "| worker | idle | peak | under | across repeated runs |",
            "|---|---|---|---|---|",
            *memory_rows,
            "",
        ]
    return "\n".join(lines).rstrip() + "\n"
