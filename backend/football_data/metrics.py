"""The football_data app's series (docs/operations.md, "Metrics and alerts"): requests to
football-data.org by status (429: refused for the plan's rate), the time callers waited for the
shared limiter, and tickets settled (their rate is settlement's throughput).
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

API_REQUESTS = Counter(
    "football_data_api_requests",
    "Requests to football-data.org by HTTP status (error: no answer).",
    ["status"],
)
LIMITER_WAIT = Histogram(
    "football_data_limiter_wait_seconds",
    "Time a request waited for a slot under the plan's rate (0 when one was free).",
    buckets=(0.0, 0.1, 0.5, 1, 2.5, 5, 10, 30, 60),
)
SETTLED_TICKETS = Counter("football_data_settled_tickets", "Tickets settled.")
# Shown at 0 from the start: increase() cannot see a series' first step (the first 429).
API_REQUESTS.labels("429")
