"""Where a new project's first tasks go: one I/O-bound and one CPU-bound task, each routed to
its worker by the module it lives in (``tasks/io_bound.py`` → ``io``, ``tasks/cpu_bound.py`` →
``cpu``). It stays when the example apps are left out, so both workers always have work to show."""
