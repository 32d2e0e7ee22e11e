"""Timestamps in provider payloads (football-data.org, The Odds API), parsed in one place so
``sync`` and ``odds`` need not import each other."""

from __future__ import annotations

from datetime import datetime

from django.utils.dateparse import parse_datetime


def optional_datetime(value: str | None) -> datetime | None:
    return parse_datetime(value) if value else None


def required_datetime(value: str) -> datetime:
    parsed = parse_datetime(value)
    if parsed is None:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}")
    return parsed
