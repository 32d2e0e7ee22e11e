"""football-data.org v4 client: one ``requests.Session``, a shared rate limit, typed errors."""

from __future__ import annotations

import re
import time
from datetime import date
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

from football_data.metrics import API_REQUESTS, LIMITER_WAIT
from ops.ratelimit import RateLimitExceeded, SlidingWindowLimiter, shared_redis

DEFAULT_TIMEOUT = (3.05, 20.0)  # (connect, read) seconds
_WAIT_SECONDS = re.compile(r"[Ww]ait (\d+) seconds?")


class FootballDataError(Exception):
    """A request the provider refused for good: retrying will not help."""


class FootballDataAuthError(FootballDataError):
    """Missing, wrong or under-privileged token (400/401/403)."""


class FootballDataTransientError(FootballDataError):
    """Worth retrying later: timeouts, connection errors, 5xx."""


class FootballDataRateLimited(FootballDataTransientError):
    """Over the plan's rate: by our shared limiter, or a 429 from the provider."""

    def __init__(self, message: str, *, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


def retry_after_seconds(response: requests.Response, default: float = 60.0) -> float:
    """The wait a 429 asks for: the body's "Wait N seconds", else X-RequestCounter-Reset."""
    try:
        body = response.json()
    except ValueError:
        body = None
    message = str(body.get("message", "")) if isinstance(body, dict) else response.text
    match = _WAIT_SECONDS.search(message)
    if match:
        return float(match.group(1))
    header = response.headers.get("X-RequestCounter-Reset", "")
    return float(header) if header.isdigit() else default


class FootballDataClient:
    def __init__(
        self,
        *,
        base_url: str,
        token: str | None,
        limiter: SlidingWindowLimiter | None,
        max_wait: float = 0.0,
        timeout: tuple[float, float] = DEFAULT_TIMEOUT,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.limiter = limiter
        self.max_wait = max_wait
        self.timeout = timeout
        self.session = requests.Session()
        # A prefork process makes one request at a time; a small pool is enough.
        self.session.mount("http://", HTTPAdapter(pool_maxsize=2))
        self.session.mount("https://", HTTPAdapter(pool_maxsize=2))
        self.session.headers["Accept"] = "application/json"
        if token:
            self.session.headers["X-Auth-Token"] = token

    def competition_matches(
        self, code: str, *, date_from: date, date_to: date, status: str | None = None
    ) -> dict[str, Any]:
        params = {"dateFrom": date_from.isoformat(), "dateTo": date_to.isoformat()}
        if status:
            params["status"] = status
        return self.get(f"/competitions/{code}/matches", params=params)

    def get(self, path: str, *, params: dict[str, str] | None = None) -> dict[str, Any]:
        if self.limiter is not None:
            asked = time.monotonic()
            try:
                self.limiter.acquire(max_wait=self.max_wait)
            except RateLimitExceeded as exc:
                raise FootballDataRateLimited(str(exc), retry_after=exc.retry_after) from None
            LIMITER_WAIT.observe(time.monotonic() - asked)
        try:
            response = self.session.get(
                f"{self.base_url}{path}", params=params, timeout=self.timeout
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            API_REQUESTS.labels("error").inc()
            raise FootballDataTransientError(f"GET {path}: {exc}") from exc
        API_REQUESTS.labels(str(response.status_code)).inc()
        self._follow_quota(response)
        if response.status_code == 429:
            wait = retry_after_seconds(response)
            if self.limiter is not None:
                self.limiter.block(wait)
            raise FootballDataRateLimited(f"GET {path}: 429, wait {wait:g}s", retry_after=wait)
        if response.status_code >= 500:
            raise FootballDataTransientError(f"GET {path}: HTTP {response.status_code}")
        if response.status_code in (400, 401, 403):
            raise FootballDataAuthError(f"GET {path}: HTTP {response.status_code} {response.text}")
        if response.status_code != 200:
            raise FootballDataError(f"GET {path}: HTTP {response.status_code} {response.text}")
        try:
            body: dict[str, Any] = response.json()
        except ValueError as exc:
            raise FootballDataTransientError(f"GET {path}: invalid JSON") from exc
        return body

    def _follow_quota(self, response: requests.Response) -> None:
        """The provider's own counter wins: when it says none are left, everyone waits."""
        available = response.headers.get("X-Requests-Available-Minute")
        reset = response.headers.get("X-RequestCounter-Reset", "")
        if self.limiter is not None and available == "0" and reset.isdigit():
            self.limiter.block(float(reset))


def shared_limiter() -> SlidingWindowLimiter:
    return SlidingWindowLimiter(
        shared_redis(settings.REDIS_URL),
        key="football_data:ratelimit",
        limit=settings.FOOTBALL_DATA_REQUESTS_PER_MINUTE,
        window=60.0,
    )


def football_data_client() -> FootballDataClient:
    return FootballDataClient(
        base_url=settings.FOOTBALL_DATA_API_URL,
        token=settings.FOOTBALL_DATA_API_TOKEN,
        limiter=shared_limiter(),
        max_wait=settings.FOOTBALL_DATA_RATE_LIMIT_MAX_WAIT,
    )
