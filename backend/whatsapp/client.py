"""WhatsApp Cloud API (Meta Graph API) client: one requests.Session per process, typed errors.

Errors are classified by Meta's ``error.code`` first and by the HTTP status only for a code
not in ``ERROR_CODES`` (Meta's docs and SDKs disagree on 400 vs 429 for the same error); each
class tells the caller what to do. The codes and what the app does with each: docs/whatsapp.md,
"Errors and retries".
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter

# (connect, read) seconds. A connect timeout means nothing was sent; a read timeout is ambiguous
# (Meta may have accepted the message), and is retried like Meta advises: see docs/whatsapp.md.
DEFAULT_TIMEOUT = (3.05, 10.0)


class WhatsAppError(Exception):
    """Any failure talking to the Cloud API; ``code`` is Meta's error.code when there was one."""

    def __init__(
        self,
        message: str,
        *,
        code: int | None = None,
        http_status: int | None = None,
        details: str = "",
        fbtrace_id: str = "",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.http_status = http_status
        self.details = details
        self.fbtrace_id = fbtrace_id

    def __str__(self) -> str:
        code = f"({self.code}) " if self.code is not None else ""
        details = f": {self.details}" if self.details else ""
        return f"{code}{self.message}{details}"


class WhatsAppTransientError(WhatsAppError):
    """Worth retrying with backoff."""


class WhatsAppThroughputError(WhatsAppTransientError):
    """130429 or 131057: the business number went past its throughput level, or is being
    upgraded; the number's pace drops for a while (whatsapp.pacing)."""


class WhatsAppPairRateLimitError(WhatsAppTransientError):
    """131056: too many messages from this business number to this user; retry after 4^X s."""


class WhatsAppPermanentError(WhatsAppError):
    """The message cannot be delivered as it is; retrying will not help."""


class WhatsAppMessagingLimitError(WhatsAppError):
    """131048: the portfolio reached its messaging limit; hold the message, do not retry soon."""


class WhatsAppAuthError(WhatsAppError):
    """The access token is invalid or expired; every send fails until it is replaced."""


# Meta's error.code -> what it means for the caller, whatever the HTTP status it came with:
# 131047 on a 429 is still the closed 24-hour window, not throttling. Codes from Meta's error
# code reference (https://developers.facebook.com/docs/whatsapp/cloud-api/support/error-codes).
ERROR_CODES: dict[int, type[WhatsAppError]] = {
    # the token: nothing goes through until it is replaced
    0: WhatsAppAuthError,  # AuthException
    190: WhatsAppAuthError,  # access token expired or invalid
    # Meta or the sender was busy: retry with backoff
    1: WhatsAppTransientError,  # API unknown
    2: WhatsAppTransientError,  # API service (temporary downtime)
    4: WhatsAppTransientError,  # API too many calls (app rate limit)
    80007: WhatsAppTransientError,  # WhatsApp Business Account rate limit
    130429: WhatsAppThroughputError,  # throughput rate limit (80 messages/s by default)
    131000: WhatsAppTransientError,  # something went wrong (generic, often temporary)
    131016: WhatsAppTransientError,  # service unavailable
    131057: WhatsAppThroughputError,  # account in maintenance (throughput upgrade)
    131056: WhatsAppPairRateLimitError,  # pair rate limit: retry after 4^X s
    # past the portfolio's messaging limit ("spam rate limit hit"): held until the count allows
    131048: WhatsAppMessagingLimitError,
    # the message cannot go out as it is: retrying will not help
    100: WhatsAppPermanentError,  # invalid parameter
    368: WhatsAppPermanentError,  # temporarily blocked for policy violations
    130403: WhatsAppPermanentError,  # not worth retrying
    130472: WhatsAppPermanentError,  # user's number is part of an experiment
    130497: WhatsAppPermanentError,  # business account restricted in the user's country
    131026: WhatsAppPermanentError,  # message undeliverable
    131031: WhatsAppPermanentError,  # business account locked
    131047: WhatsAppPermanentError,  # re-engagement: outside the 24-hour window (template needed)
    131049: WhatsAppPermanentError,  # Meta chose not to deliver (per-user marketing limit)
    131050: WhatsAppPermanentError,  # user stopped marketing messages
    131051: WhatsAppPermanentError,  # unsupported message type
    # a template Meta will not send as asked: fix the template or the parameters, not the timing
    132000: WhatsAppPermanentError,  # parameter count differs from the template's placeholders
    132001: WhatsAppPermanentError,  # template does not exist in that language (or not approved)
    132005: WhatsAppPermanentError,  # text too long once the parameters are filled in
    132007: WhatsAppPermanentError,  # content breaks WhatsApp's format or character policy
    132012: WhatsAppPermanentError,  # parameter format does not match the template's
    132015: WhatsAppPermanentError,  # template paused for low quality
    132016: WhatsAppPermanentError,  # template disabled for good (paused too many times)
}


def error_class(*, code: int | None, http_status: int | None) -> type[WhatsAppError]:
    """Which error a failed call is: by Meta's code when known, else by the HTTP status."""
    if code is not None and code in ERROR_CODES:
        return ERROR_CODES[code]
    if http_status is not None and (http_status >= 500 or http_status == 429):
        # The server was in trouble or throttling, not the request.
        return WhatsAppTransientError
    return WhatsAppPermanentError


def error_from_response(error: dict[str, Any], *, http_status: int | None) -> WhatsAppError:
    """The typed exception for a Graph API ``{"error": {...}}`` envelope."""
    raw_code = error.get("code")
    code = raw_code if isinstance(raw_code, int) and not isinstance(raw_code, bool) else None
    error_data = error.get("error_data")
    details = error_data.get("details", "") if isinstance(error_data, dict) else ""
    return error_class(code=code, http_status=http_status)(
        str(error.get("message", "unknown error")),
        code=code,
        http_status=http_status,
        details=str(details),
        fbtrace_id=str(error.get("fbtrace_id", "")),
    )


@dataclass(frozen=True)
class SentMessage:
    wamid: str
    wa_id: str


@dataclass(frozen=True)
class ClientConfig:
    base_url: str
    version: str
    access_token: str
    phone_number_id: str
    pool_size: int

    @classmethod
    def from_settings(cls) -> ClientConfig:
        if not settings.WHATSAPP_ACCESS_TOKEN or not settings.WHATSAPP_PHONE_NUMBER_ID:
            raise WhatsAppAuthError(
                "WHATSAPP_ACCESS_TOKEN and WHATSAPP_PHONE_NUMBER_ID must be set to send messages."
            )
        return cls(
            base_url=settings.WHATSAPP_API_BASE_URL.rstrip("/"),
            version=settings.WHATSAPP_API_VERSION,
            access_token=settings.WHATSAPP_ACCESS_TOKEN,
            phone_number_id=settings.WHATSAPP_PHONE_NUMBER_ID,
            pool_size=settings.WHATSAPP_HTTP_POOL_SIZE,
        )


class WhatsAppClient:
    """The Cloud API's messages endpoint, around one pooled ``requests.Session``."""

    def __init__(
        self, config: ClientConfig, *, timeout: tuple[float, float] = DEFAULT_TIMEOUT
    ) -> None:
        self.config = config
        self.timeout = timeout
        self.session = requests.Session()
        # The default pool keeps 10 connections; a gevent worker at -c 100 would log
        # "Connection pool is full, discarding connection" and reconnect all the time.
        # Retries are the task's job (with the row's state), never urllib3's.
        adapter = HTTPAdapter(pool_connections=4, pool_maxsize=config.pool_size, max_retries=0)
        self.session.mount("https://", adapter)
        self.session.mount("http://", adapter)
        self.session.headers.update(
            {
                "Authorization": f"Bearer {config.access_token}",
                "User-Agent": "django-celery-template-whatsapp/1",
            }
        )

    @property
    def messages_url(self) -> str:
        c = self.config
        return f"{c.base_url}/{c.version}/{c.phone_number_id}/messages"

    def text_send(self, *, to: str, body: str, callback_data: str = "") -> SentMessage:
        """Send one text message; returns Meta's message id (accepted, not yet delivered)."""
        content = {"type": "text", "text": {"preview_url": False, "body": body}}
        return self._message_send(to=to, content=content, callback_data=callback_data)

    def template_send(
        self,
        *,
        to: str,
        name: str,
        language: str,
        params: Sequence[str],
        callback_data: str = "",
    ) -> SentMessage:
        """Send an approved template, its body's placeholders filled with ``params`` in order;
        returns Meta's message id (accepted, not yet delivered)."""
        template: dict[str, Any] = {"name": name, "language": {"code": language}}
        if params:
            parameters = [{"type": "text", "text": param} for param in params]
            template["components"] = [{"type": "body", "parameters": parameters}]
        content = {"type": "template", "template": template}
        return self._message_send(to=to, content=content, callback_data=callback_data)

    def _message_send(self, *, to: str, content: dict[str, Any], callback_data: str) -> SentMessage:
        payload: dict[str, Any] = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": to,
            **content,
        }
        if callback_data:
            # Echoed back in status webhooks: lets a send whose response was lost be matched.
            payload["biz_opaque_callback_data"] = callback_data
        data = self._post(self.messages_url, payload)
        try:
            wamid = str(data["messages"][0]["id"])
        except (KeyError, IndexError, TypeError):
            raise WhatsAppTransientError(
                f"success response without a message id: {str(data)[:200]}"
            ) from None
        contacts = data.get("contacts") or [{}]
        return SentMessage(wamid=wamid, wa_id=str(contacts[0].get("wa_id", to)).strip())

    def _post(self, url: str, payload: dict[str, Any]) -> dict[str, Any]:
        try:
            response = self.session.post(url, json=payload, timeout=self.timeout)
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
        ) as exc:
            raise WhatsAppTransientError(f"{type(exc).__name__}: {exc}") from exc
        except requests.RequestException as exc:
            # A bad URL or similar: configuration, not the network; retrying will not help.
            raise WhatsAppError(f"{type(exc).__name__}: {exc}") from exc
        try:
            data = response.json()
        except ValueError:
            data = None
        if isinstance(data, dict) and isinstance(data.get("error"), dict):
            raise error_from_response(data["error"], http_status=response.status_code)
        if response.status_code >= 400 or not isinstance(data, dict):
            error = error_class(code=None, http_status=response.status_code)
            raise error(
                f"HTTP {response.status_code}: {response.text[:200]}",
                http_status=response.status_code,
            )
        return data

    def close(self) -> None:
        self.session.close()


_client: WhatsAppClient | None = None
_client_lock = threading.Lock()


def get_client() -> WhatsAppClient:
    """The process's client, created on first use and shared by every task (and greenlet).

    It is rebuilt only when the settings it was built from change (tests override them).
    """
    global _client
    config = ClientConfig.from_settings()
    client = _client
    if client is not None and client.config == config:
        return client
    with _client_lock:
        if _client is None or _client.config != config:
            if _client is not None:
                _client.close()
            _client = WhatsAppClient(config)
        return _client
