"""Prometheus metrics (docs/operations.md, "Metrics and alerts"): what the core measures, the
registry each process kind serves, and the scrape-time readings of queues, workers and beat.

Apps add their own series in ``<app>/metrics.py`` (``config.discovery.metric_collectors``).
"""
