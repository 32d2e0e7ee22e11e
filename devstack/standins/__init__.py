"""Local stand-ins for the external APIs, runnable as processes (`python -m devstack.standins.X`)
and usable in-process by the tests. They behave like the real APIs, errors and latency included.
"""

import signal
from http.server import ThreadingHTTPServer
from types import FrameType


class StandInServer(ThreadingHTTPServer):
    """A thread per connection, and a listen backlog that 100 concurrent clients do not overflow
    (the default of 5 makes the kernel drop connections, which then wait a second to retry)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024


def stop_on_sigterm() -> None:
    """Let SIGTERM (``docker compose stop``, ``make run``'s Ctrl-C) end the process at once with
    exit 0, instead of being killed when the stop timeout runs out. SystemExit, unlike
    KeyboardInterrupt, also exits 0 when the signal lands before the serving loop has started."""

    def exit_cleanly(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, exit_cleanly)
