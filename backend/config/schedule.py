"""Every periodic task, gathered from the apps that own them.

Each entry carries ``options.expires`` so a backlog after downtime does not replay stale runs,
and ``ops.checks`` proves each one routes to a queue some worker consumes.
"""

from __future__ import annotations

from typing import Any

from football_data.schedules import BEAT_SCHEDULE as FOOTBALL_DATA_SCHEDULE
from ops.schedules import BEAT_SCHEDULE as OPS_SCHEDULE
from whatsapp.schedules import BEAT_SCHEDULE as WHATSAPP_SCHEDULE

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {
    **OPS_SCHEDULE,
    **WHATSAPP_SCHEDULE,
    **FOOTBALL_DATA_SCHEDULE,
}
