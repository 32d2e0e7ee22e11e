"""The starter tasks on their own: the sieve's counts and bounds, and the URL check against a
local HTTP server (the worker round trips are in tests/test_workers.py)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from starter.tasks.cpu_bound import MAX_LIMIT, count_primes
from starter.tasks.io_bound import check_url


@pytest.mark.parametrize(
    ("limit", "primes"), [(0, 0), (2, 0), (3, 1), (10, 4), (100, 25), (1_000_000, 78_498)]
)
def test_count_primes_counts_the_primes_below_the_limit(limit, primes):
    assert count_primes(limit) == primes


@pytest.mark.parametrize("limit", [-1, MAX_LIMIT + 1])
def test_count_primes_refuses_a_limit_out_of_bounds(limit):
    with pytest.raises(ValueError, match="limit must be between"):
        count_primes(limit)


class Status(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(int(self.path.strip("/")))
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def status_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Status)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.mark.parametrize("status", [200, 302, 404, 503])
def test_check_url_returns_the_status_without_following_redirects(status_server, status):
    assert check_url(f"{status_server}/{status}") == status


def test_check_url_fails_with_the_connection_error_of_a_server_that_is_gone():
    # Nothing listens on the closed server's port any more: a connection error, retried, then
    # the task's failure.
    closed = ThreadingHTTPServer(("127.0.0.1", 0), Status)
    url = f"http://127.0.0.1:{closed.server_address[1]}/200"
    closed.server_close()
    result = check_url.apply(args=(url,))
    assert isinstance(result.result, requests.ConnectionError)
    assert result.state == "FAILURE"
