"""Typed access to the process environment, read once by ``config.settings``.

Every helper names the variable in its error, so a bad deployment stops at start-up with a
message a person can act on instead of failing later inside a worker.
"""

from __future__ import annotations

import builtins
import os
from collections.abc import Callable, Mapping
from typing import TypeVar
from urllib.parse import quote

from django.core.exceptions import ImproperlyConfigured

_N = TypeVar("_N", int, float)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


class EnvError(ImproperlyConfigured):
    """A variable is missing or malformed; the message starts with its name."""


class Env:
    """Reads variables from a mapping (``os.environ`` by default) with clear errors."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = os.environ if environ is None else environ

    def _raw(self, name: builtins.str) -> builtins.str | None:
        value = self._environ.get(name)
        if value is not None and "${" in value:
            # Incident: a broker URL held a literal '${REDIS_PASSWORD}' because the process that
            # read .env does not expand variables. Nothing here expands them either, so refuse.
            reference = value[value.index("${") :].split("}")[0] + "}"
            raise EnvError(
                f"{name} contains an unexpanded reference {reference!r}."
                " Variables are not expanded here: set the final value, or set the parts"
                " (e.g. REDIS_PASSWORD) and let config.settings build the URL."
            )
        return value

    def str(self, name: builtins.str, default: builtins.str | None = None) -> builtins.str:
        value = self._raw(name)
        if value is None or value == "":
            if default is None:
                raise EnvError(f"{name} is required but not set.")
            return default
        return value

    def optional(self, name: builtins.str) -> builtins.str | None:
        value = self._raw(name)
        return value or None

    def bool(self, name: builtins.str, default: builtins.bool) -> builtins.bool:
        value = self._raw(name)
        if value is None:
            return default
        lowered = value.strip().lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise EnvError(
            f"{name} must be a boolean (1/0, true/false, yes/no, on/off), got {value!r}."
        )

    def int(
        self, name: builtins.str, default: builtins.int, *, minimum: builtins.int | None = None
    ) -> builtins.int:
        return self._number(name, default, minimum, int, "an integer")

    def float(
        self, name: builtins.str, default: builtins.float, *, minimum: builtins.float | None = None
    ) -> builtins.float:
        return self._number(name, default, minimum, float, "a number")

    def _number(
        self,
        name: builtins.str,
        default: _N,
        minimum: _N | None,
        parse: Callable[[builtins.str], _N],
        kind: builtins.str,
    ) -> _N:
        value = self._raw(name)
        if value is None or value.strip() == "":
            return default
        try:
            number = parse(value)
        except ValueError:
            raise EnvError(f"{name} must be {kind}, got {value!r}.") from None
        if minimum is not None and number < minimum:
            raise EnvError(f"{name} must be at least {minimum}, got {number}.")
        return number

    def list(
        self, name: builtins.str, default: builtins.list[builtins.str]
    ) -> builtins.list[builtins.str]:
        value = self._raw(name)
        if value is None:
            return default
        return [item.strip() for item in value.split(",") if item.strip()]


def redis_url(*, host: str, port: int, password: str | None, db: int) -> str:
    """Build a ``redis://`` URL from parts, quoting the password completely.

    ``quote(password, safe="")`` also escapes ``/``; a plain ``quote`` leaves it and a password
    such as ``p@ss:w/rd#?%&x`` then breaks URL parsing ("Port could not be cast").
    """
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/{db}"
