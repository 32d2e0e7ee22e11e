from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack.standins.football_data import FootballDataStandin
from ops.ratelimit import shared_redis

SAMPLES = Path(__file__).parent / "samples"


def load_sample(name: str) -> Any:
    return json.loads((SAMPLES / name).read_text())


@pytest.fixture(autouse=True)
def fresh_limiter(settings: Any) -> None:
    """Each test starts with the shared football-data limiter empty."""
    client = shared_redis(settings.REDIS_URL)
    for key in client.scan_iter("football_data:ratelimit*"):
        client.delete(key)


@pytest.fixture
def standin() -> Iterator[FootballDataStandin]:
    with FootballDataStandin() as api:
        yield api


@pytest.fixture
def football_api(settings: Any, standin: FootballDataStandin) -> FootballDataStandin:
    """The stand-in, configured as the API the code under test calls."""
    settings.FOOTBALL_DATA_API_URL = standin.url
    settings.FOOTBALL_DATA_API_TOKEN = "test-token"
    return standin
