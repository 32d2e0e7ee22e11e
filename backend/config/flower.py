"""Flower's options (``celery -A config flower --conf=config/flower.py``, the production stack's
``flower`` profile): served under /flower/ behind the proxy, and never without a login."""

from __future__ import annotations

import os
import re

# user:password, as Flower's --basic_auth takes it; the value is never echoed (it is a secret).
_credentials = os.environ.get("FLOWER_BASIC_AUTH", "")
if not re.fullmatch(r"[^:,\s]+:[^,\s]{16,}", _credentials):
    raise SystemExit(
        "Configuration error: FLOWER_BASIC_AUTH must be user:password, with a password of 16"
        " characters or more (make env writes one)."
    )
basic_auth = [_credentials]
url_prefix = "flower"
address = "0.0.0.0"  # noqa: S104 (the container's network only: nothing publishes the port)
port = 5555
# Workers gone for 10 minutes leave the list (each container restart is a new node name).
purge_offline_workers = 600
