"""Local stand-ins for the external APIs, runnable as processes (`python -m devstack.standins.X`)
and usable in-process by the tests. They behave like the real APIs, errors and latency included.
"""

from http.server import ThreadingHTTPServer


class StandInServer(ThreadingHTTPServer):
    """A thread per connection, and a listen backlog that 100 concurrent clients do not overflow
    (the default of 5 makes the kernel drop connections, which then wait a second to retry)."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 1024
