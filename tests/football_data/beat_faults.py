"""football_data's beat entry in the beat restart tests (tests/ops/test_faults.py): the fixtures
sync, every 10 s there, longer than the canary's interval, so a repeat after a restart shows."""

from __future__ import annotations

FIXTURES_EVERY = 10
ENV = {"FOOTBALL_DATA_FIXTURES_SYNC_SECONDS": str(FIXTURES_EVERY)}
# (beat entry, its interval in these tests, its task, its arguments)
ENTRIES: list[tuple[str, float, str, list[object]]] = [
    ("football-data-sync-fixtures", FIXTURES_EVERY, "football_data.tasks.sync_fixtures", []),
]
