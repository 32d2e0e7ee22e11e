"""A throwaway value for each variable the Compose files require (``${NAME:?...}``), for tests
that read those files without a .env."""

from __future__ import annotations

from devstack.compose import COMPOSE_FILES, CONTAINER_ONLY_VARIABLES, VARIABLE

REQUIRED = {
    match["name"]: "throwaway"  # pragma: allowlist secret (never used)
    for path in COMPOSE_FILES
    for match in VARIABLE.finditer(path.read_text())
    if match["op"] in (":?", "?")
}
# What a local run needs set: Compose's container-only values are its own to supply.
FOR_LOCAL_RUN = {
    name: value for name, value in REQUIRED.items() if name not in CONTAINER_ONLY_VARIABLES
}
