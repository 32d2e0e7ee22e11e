"""Typed access to the process environment, read once by ``config.settings``.

Every helper names the variable in its error, so a bad deployment stops at start-up with a
message a person can act on instead of failing later inside a worker.
"""

from __future__ import annotations

import builtins
import math
import os
import re
import zoneinfo
from collections.abc import Callable, Mapping
from typing import NamedTuple, TypeVar
from urllib.parse import quote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_N = TypeVar("_N", int, float)

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}

# The value .env.example gives every secret; `make env` replaces it. Refused with debug off.
# pragma: allowlist nextline secret
PLACEHOLDER_SECRET = "change-me"  # noqa: S105 (the known placeholder, refused)


class EnvError(ImproperlyConfigured):
    """A variable is missing or malformed; the message starts with its name."""


class Shape(NamedTuple):
    """What a value that is not free text must look like, and how to say so in an error."""

    pattern: re.Pattern[str]
    expected: str
    echo: bool = True  # False for secrets: the error must not print them

    def mismatch(self, name: str, value: str, *, items: bool = False) -> EnvError | None:
        if self.pattern.fullmatch(value):
            return None
        got = repr(value) if self.echo else f"a value of {len(value)} characters (not shown)"
        subject = f"{name} items must each be" if items else f"{name} must be"
        return EnvError(f"{subject} {self.expected}, got {got}.")


ALLOWED_HOST = Shape(
    re.compile(r"\*|\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?|\[[0-9A-Fa-f:.]+\]"),
    "a host name (example.com, .example.com, *) without scheme, port or path",
)
ORIGIN = Shape(re.compile(r"https?://[^/\s]+"), "an origin such as https://example.com (no path)")
HOST = Shape(
    re.compile(r"[A-Za-z0-9_.-]+|\[[0-9A-Fa-f:.]+\]"),
    "a host name or IP address without scheme or port",
)
DIGITS = Shape(re.compile(r"[0-9]+"), "digits only")
TOKEN = Shape(
    re.compile(r"\S+"), "a token without spaces (the bare token, no 'Bearer ')", echo=False
)


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

    def str(
        self,
        name: builtins.str,
        default: builtins.str | None = None,
        *,
        shape: Shape | None = None,
    ) -> builtins.str:
        """The value, or ``default`` when unset or empty; required when there is no default.

        With ``shape``, a set value must match its pattern whole.
        """
        value = self.optional(name, shape=shape)
        if value is None:
            if default is None:
                raise EnvError(f"{name} is required but not set.")
            return default
        return value

    def optional(
        self,
        name: builtins.str,
        *,
        shape: Shape | None = None,
    ) -> builtins.str | None:
        value = self._raw(name) or None
        if value is not None and shape is not None:
            error = shape.mismatch(name, value)
            if error is not None:
                raise error
        return value

    def secret(self, name: builtins.str, *, production: builtins.bool) -> builtins.str | None:
        """An optional secret; in production (debug off) the .env.example placeholder is refused."""
        value = self.optional(name)
        if production and value == PLACEHOLDER_SECRET:
            raise EnvError(
                f"{name} is still {PLACEHOLDER_SECRET!r} from .env.example. Run `make env`"
                " to write a .env with generated secrets, or set a real value."
            )
        return value

    def url(
        self, name: builtins.str, default: builtins.str, *, schemes: tuple[builtins.str, ...]
    ) -> builtins.str:
        """A URL with one of ``schemes``, a host and a numeric port if any."""
        value = self.str(name, default)
        parts = urlsplit(value)
        shown = value.replace(parts.password, "***") if parts.password else value
        try:
            parts.port  # noqa: B018 (parsing the port is the check)
        except ValueError:
            raise EnvError(f"{name} has a malformed port: {shown!r}.") from None
        if parts.scheme not in schemes or not parts.hostname:
            raise EnvError(
                f"{name} must be a URL such as {schemes[0]}://host:port/..."
                f" (scheme {' or '.join(schemes)}), got {shown!r}."
            )
        return value

    def choice(
        self, name: builtins.str, default: builtins.str, *, choices: tuple[builtins.str, ...]
    ) -> builtins.str:
        """One of ``choices``, compared case-insensitively; returned as listed there."""
        value = self.str(name, default)
        by_upper = {choice.upper(): choice for choice in choices}
        if value.strip().upper() not in by_upper:
            raise EnvError(f"{name} must be one of {', '.join(choices)}, got {value!r}.")
        return by_upper[value.strip().upper()]

    def time_zone(self, name: builtins.str, default: builtins.str) -> builtins.str:
        value = self.str(name, default)
        try:
            zoneinfo.ZoneInfo(value)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            raise EnvError(
                f"{name} must be an IANA time zone such as UTC or Europe/Paris, got {value!r}."
            ) from None
        return value

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
        self,
        name: builtins.str,
        default: builtins.int,
        *,
        minimum: builtins.int | None = None,
        maximum: builtins.int | None = None,
    ) -> builtins.int:
        return self._number(name, default, minimum, maximum, int, "an integer")

    def limit(
        self, name: builtins.str, default: builtins.int | None, *, minimum: builtins.int = 1
    ) -> builtins.int | None:
        """A whole number of at least ``minimum``, or ``unlimited`` (any case): None."""
        value = self._raw(name)
        if value is None or value.strip() == "":
            return default
        if value.strip().lower() == "unlimited":
            return None
        if not value.strip().isdigit() or int(value) < minimum:
            raise EnvError(
                f"{name} must be a whole number of at least {minimum} or 'unlimited', "
                f"got {value!r}."
            )
        return int(value)

    def float(
        self,
        name: builtins.str,
        default: builtins.float,
        *,
        minimum: builtins.float | None = None,
        maximum: builtins.float | None = None,
    ) -> builtins.float:
        return self._number(name, default, minimum, maximum, float, "a number")

    def _number(
        self,
        name: builtins.str,
        default: _N,
        minimum: _N | None,
        maximum: _N | None,
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
        if not math.isfinite(number):  # float("nan") and float("inf") parse, and pass any minimum
            raise EnvError(f"{name} must be a finite number, got {value!r}.")
        if minimum is not None and number < minimum:
            raise EnvError(f"{name} must be at least {minimum}, got {number}.")
        if maximum is not None and number > maximum:
            raise EnvError(f"{name} must be at most {maximum}, got {number}.")
        return number

    def list(
        self,
        name: builtins.str,
        default: builtins.list[builtins.str],
        *,
        shape: Shape | None = None,
    ) -> builtins.list[builtins.str]:
        """Comma-separated items; with ``shape``, each must match its pattern whole."""
        value = self._raw(name)
        if value is None:
            return default
        items = [item.strip() for item in value.split(",") if item.strip()]
        for item in items:
            error = shape.mismatch(name, item, items=True) if shape is not None else None
            if error is not None:
                raise error
        return items


HTTP_SCHEMES = ("https", "http")
REDIS_SCHEMES = ("redis", "rediss")
AMQP_SCHEMES = ("amqp", "amqps")


def is_redis_url(url: str) -> bool:
    """Whether ``url`` names a Redis (the other broker is RabbitMQ, amqp:// or amqps://)."""
    return urlsplit(url).scheme in REDIS_SCHEMES


def redis_url(*, host: str, port: int, password: str | None, db: int) -> str:
    """Build a ``redis://`` URL from parts, quoting the password completely.

    ``quote(password, safe="")`` also escapes ``/``; a plain ``quote`` leaves it and a password
    such as ``p@ss:w/rd#?%&x`` then breaks URL parsing ("Port could not be cast").
    """
    auth = f":{quote(password, safe='')}@" if password else ""
    return f"redis://{auth}{host}:{port}/{db}"
