"""The starter's CPU task on a real prefork worker-cpu at concurrency 1 and 2: how it scales.

    .venv/bin/python bench/starter/cpu_scaling.py [--tasks 24] [--limit 40000000] [--repeat 3]

``starter.tasks.cpu_bound.count_primes`` (--limit) runs --tasks times on worker-cpu (its
docker-compose.yml command) at ``-c 1`` and at ``-c 2``, each --repeat times, interleaved. On
two cores with nothing else busy, two processes can at best do twice the tasks a second of one.

For each run: tasks a second (from the first send to the last result) and the worker's CPU time
per task (bench/memory.py).
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import bench_parser, bench_setup, worker_start
from memory import cpu_seconds

CONCURRENCY = ("1", "2")


def run_once(pid: int, tasks: int, limit: int, timeout: float) -> dict[str, float]:
    from starter.tasks.cpu_bound import count_primes

    before, started = cpu_seconds(pid), time.monotonic()
    results = [count_primes.delay(limit) for _ in range(tasks)]
    counts = {result.get(timeout=timeout) for result in results}
    elapsed = time.monotonic() - started
    assert len(counts) == 1, counts  # the same answer every time
    return {
        "tasks_per_s": round(tasks / elapsed, 3),
        "cpu_ms_per_task": round((cpu_seconds(pid) - before) * 1000 / tasks, 1),
    }


def main() -> None:
    parser = bench_parser(__doc__.splitlines()[0] if __doc__ else None, concurrency=[1, 2])
    parser.add_argument("--tasks", type=int, default=24)
    parser.add_argument("--limit", type=int, default=40_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-starter-cpu-"))
    servers = bench_setup(workdir, database_url=args.database_url)
    runs: dict[str, list[dict[str, float]]] = {c: [] for c in CONCURRENCY}
    try:
        for _ in range(args.repeat):
            for concurrency in CONCURRENCY:
                with (workdir / f"worker-cpu-{concurrency}.log").open("a") as log:
                    worker = worker_start("worker-cpu", log, WORKER_CPU_CONCURRENCY=concurrency)
                    try:
                        runs[concurrency].append(
                            run_once(worker.pid, args.tasks, args.limit, args.timeout)
                        )
                    finally:
                        worker.stop(30)
    finally:
        servers.stop()
    ratios = [
        round(two["tasks_per_s"] / one["tasks_per_s"], 3)
        for one, two in zip(runs["1"], runs["2"], strict=True)
    ]
    result = {
        "tasks": args.tasks,
        "limit": args.limit,
        "repeat": args.repeat,
        "runs": runs,
        "ratios": ratios,
        "median_ratio": round(statistics.median(ratios), 3),
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
