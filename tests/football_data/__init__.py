"""The football_data app's tests, and what the core's tests run over for it (tests/declared.py)."""

# The day issue 23 was found on: match 999580 of the stand-in's calendar, postponed, kicks off
# the next day (test_dates.py checks it still does).
DATES = {"postponed-match-in-window": "2026-12-07T02:40:00+00:00"}
# The stand-in's calendar (postponements, results, fixtures) and settlement's grace period, run
# again with the clock pinned (tests/test_dates.py); the real-process suite reads the calendar
# through the workers.
DATE_SUITES = ["tests/football_data"]
DATE_PROCESS_SUITES = ["tests/football_data/test_processes.py"]
ROUTED_TASKS: list[tuple[str, list[object], str]] = [
    ("football_data.tasks.settle_tickets", [], "worker-cpu")
]
# Its beat entry in the beat restart tests (tests/ops/test_faults.py), with the variable that sets
# its interval there: the fixtures sync every 10 s, longer than the canary's 6, so a repeat shows.
BEAT_ENTRIES: list[tuple[str, float, str, list[object]]] = [
    ("football-data-sync-fixtures", 10, "football_data.tasks.sync_fixtures", [])
]
BEAT_ENV = {"FOOTBALL_DATA_FIXTURES_SYNC_SECONDS": "10"}
