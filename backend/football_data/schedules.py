"""Periodic football-data work (merged into the beat schedule by config.schedule)."""

from __future__ import annotations

from typing import Any

BEAT_SCHEDULE: dict[str, dict[str, Any]] = {}
