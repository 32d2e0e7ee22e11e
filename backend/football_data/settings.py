"""The football_data app's settings, read from the environment (its variables: env.example here).

``config.settings`` reads these after the core's (config.discovery); code reads them as
``django.conf.settings.FOOTBALL_DATA_...``. A missing or malformed variable stops start-up naming
it.
"""

from __future__ import annotations

import re

from config.env import HTTP_SCHEMES, TOKEN, Shape
from config.environment import env

FOOTBALL_DATA_API_URL = env.url(
    "FOOTBALL_DATA_API_URL", "https://api.football-data.org/v4", schemes=HTTP_SCHEMES
)
FOOTBALL_DATA_API_TOKEN = env.optional("FOOTBALL_DATA_API_TOKEN", shape=TOKEN)
FOOTBALL_DATA_REQUESTS_PER_MINUTE = env.int("FOOTBALL_DATA_REQUESTS_PER_MINUTE", 10, minimum=1)
FOOTBALL_DATA_COMPETITIONS = env.list(
    "FOOTBALL_DATA_COMPETITIONS",
    ["PL"],
    shape=Shape(re.compile(r"[A-Za-z0-9]+"), "a competition code such as PL or CL"),
)
# How long a task may sleep for a free slot in the shared limiter before it retries later instead.
# 0: never sleep; the sync tasks run on the prefork cpu worker, where a sleeping process is a core
# not settling tickets, so they retry with a countdown instead.
FOOTBALL_DATA_RATE_LIMIT_MAX_WAIT = env.float("FOOTBALL_DATA_RATE_LIMIT_MAX_WAIT", 0.0, minimum=0)
# Seconds between fixture syncs (beat); the dev override may lower it so demos fill up quickly.
FOOTBALL_DATA_FIXTURES_SYNC_SECONDS = env.int(
    "FOOTBALL_DATA_FIXTURES_SYNC_SECONDS", 1800, minimum=5
)
FOOTBALL_DATA_FIXTURES_DAYS = env.int("FOOTBALL_DATA_FIXTURES_DAYS", 7, minimum=1)
# Tickets per settlement task: bounded so each chunk stays well inside its time limit.
FOOTBALL_DATA_SETTLE_CHUNK_SIZE = env.int("FOOTBALL_DATA_SETTLE_CHUNK_SIZE", 500, minimum=1)
# Seconds after its chunk was enqueued an open ticket counts as lost (its worker died) and is
# enqueued again, once no chunk waits in the queue. Every worker-cpu checks every 5 s.
FOOTBALL_DATA_SETTLE_SWEEP_AFTER_SECONDS = env.float(
    "FOOTBALL_DATA_SETTLE_SWEEP_AFTER_SECONDS", 10.0, minimum=0
)
# Hours after its original kick-off a POSTPONED match voids its selections. Before that the
# ticket waits: football-data usually reschedules a postponed match under the same id.
FOOTBALL_DATA_POSTPONED_VOID_AFTER_HOURS = env.int(
    "FOOTBALL_DATA_POSTPONED_VOID_AFTER_HOURS", 48, minimum=0
)
