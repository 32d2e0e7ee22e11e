"""A local stand-in for the WhatsApp Cloud API (Meta Graph API) messages endpoint.

Run it as a process::

    WHATSAPP_APP_SECRET=... python -m devstack.standins.whatsapp --port=8081 \\
        --webhook-url=http://127.0.0.1:8000/whatsapp/webhook/

or in-process from tests::

    with WhatsAppStandIn(app_secret="s") as standin:
        standin.add_fault(body_contains="part 03", code=131000)   # fail that message once
        standin.set_template_status("payment_reminder", "en_US", PAUSED)  # 132015 from now on
        ...  # point WHATSAPP_API_BASE_URL at standin.url
        standin.delivered()                                      # what it accepted, in order

It accepts ``POST /{version}/{phone_number_id}/messages`` with bearer auth, validates the body,
answers like Meta (``wamid.*`` ids, Graph error envelopes), adds latency and faults on demand,
records every request with its receive time, and can post signed status webhooks (sent,
delivered, read) back to the app. ``limits=`` (``--messages-per-second``, ``--pair-interval``,
``--pair-burst``) makes it enforce Meta's throughput level and pair rule
(devstack.standins._whatsapp_limits). Template messages go only for a template it approved
(``TEMPLATES`` by default, ``--template``/``templates=`` for more) and are refused with Meta's
132xxx codes otherwise; an accepted one is recorded with its text, placeholders filled in, as
its body. Like Meta it keeps each user's 24-hour customer service window (opened by the inbound
messages it posts, or ``open_window()``, POST /_standin/window; a text outside it: 131047) and
the messaging limit (``--messaging-limit`` unique users reached by templates outside their
window in a moving 24 h; past it: 131048). Its refusals for the limits are counted
(``refusals()``, GET /_standin/refusals), and those of templates apart (``template_refusals()``).
Standard library plus requests only.
"""

from __future__ import annotations

import argparse
import base64
import contextlib
import hashlib
import hmac
import json
import logging
import os
import queue
import random
import re
import secrets
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import requests

from devstack.standins import StandInServer, stop_on_sigterm
from devstack.standins._whatsapp_limits import Limits, MetaLimits

logger = logging.getLogger("devstack.standins.whatsapp")

MESSAGES_PATH = re.compile(r"^/(?P<version>v\d+\.\d+)/(?P<phone_number_id>[^/]+)/messages/?$")
MAX_TEXT_LENGTH = 4096
# A template's body once its parameters are filled in.
MAX_TEMPLATE_LENGTH = 1024
PLACEHOLDER = re.compile(r"\{\{([0-9]+)\}\}")
# What Meta refuses in a template parameter.
PARAMETER_REFUSED = re.compile(r"[\n\r\t]| {5}")

# Graph error codes the stand-in can produce: HTTP status and message, as Meta sends them.
ERRORS: dict[int, tuple[int, str]] = {
    1: (500, "An unknown error occurred"),
    2: (503, "Service temporarily unavailable"),
    4: (400, "Application request limit reached"),
    100: (400, "Invalid parameter"),
    190: (401, "Invalid OAuth access token - Cannot parse access token"),
    130429: (400, "Rate limit hit"),
    131000: (500, "Something went wrong"),
    131026: (400, "Message undeliverable"),
    131047: (400, "Re-engagement message"),
    131048: (400, "Spam rate limit hit"),
    131056: (400, "(Business Account, Consumer Account) pair rate limit hit"),
    132000: (400, "Number of parameters does not match the expected number of params"),
    132001: (404, "Template name does not exist in the translation"),
    132005: (400, "Translated text too long"),
    132007: (400, "Template Format Character Policy Violated"),
    132012: (400, "Parameter format does not match format in the created template"),
    132015: (400, "Template is Paused"),
    132016: (400, "Template is Disabled"),
}

# The templates approved for the number unless the stand-in is told more: the app's own
# (backend/whatsapp/message_templates.py), written again because the stand-in's image holds
# devstack/ only; tests/whatsapp/test_message_templates.py holds the two equal.
TEMPLATES: dict[str, dict[str, str]] = {
    "payment_reminder": {"en_US": "Hi {{1}}, your payment of {{2}} is due on {{3}}."},
    "payment_received": {"en_US": "Hi {{1}}, we received your payment of {{2}}. Thank you!"},
}
# A template's status in WhatsApp Manager, and Meta's answer to a send of one not approved.
APPROVED, PAUSED, DISABLED = "APPROVED", "PAUSED", "DISABLED"
STATUS_REFUSED = {PAUSED: 132015, DISABLED: 132016}

TIMEOUT = "timeout"  # fault kind: hold the request, then drop the connection without an answer
HTTP_500 = "http500"  # fault kind: a bare 500 without a Graph error body


@dataclass
class Received:
    """One request as the stand-in saw it."""

    at: float  # time.time() when the request arrived
    path: str
    payload: Any
    # What the user reads: a text's body, or a template's once its parameters are filled in.
    body: str = ""
    status: int = 0
    wamid: str | None = None
    fault: str | None = None

    @property
    def to(self) -> str:
        return str(self.payload.get("to", "")) if isinstance(self.payload, dict) else ""


@dataclass
class Fault:
    """A targeted fault: matches the ``nth`` request (1-based) and/or bodies containing a string.

    ``code`` is a Graph error code from ``ERRORS``; ``kind`` is ``error``, ``timeout`` or
    ``http500``; ``http_status`` overrides the code's usual status (Meta's docs and SDKs disagree
    on it). It fires ``times`` times, then is spent.
    """

    code: int | None = None
    kind: str = "error"
    nth: int | None = None
    body_contains: str | None = None
    times: int = 1
    http_status: int | None = None

    def matches(self, number: int, body: str) -> bool:
        if self.times <= 0:
            return False
        if self.nth is not None and self.nth != number:
            return False
        return self.body_contains is None or self.body_contains in body


@dataclass
class Template:
    """A template approved (or paused, or disabled) for the number in one language."""

    body: str
    status: str = APPROVED

    def parameter_count(self) -> int:
        return len(set(PLACEHOLDER.findall(self.body)))

    def text(self, params: list[str]) -> str:
        return PLACEHOLDER.sub(lambda match: params[int(match[1]) - 1], self.body)


def template_table(*tables: dict[str, dict[str, str]]) -> dict[tuple[str, str], Template]:
    """Tables of ``{name: {language: body}}`` as the stand-in keeps them: approved templates by
    name and language (a later table's body wins)."""
    return {
        (name, language): Template(body)
        for table in tables
        for name, languages in table.items()
        for language, body in languages.items()
    }


def sign(body: bytes, app_secret: str) -> str:
    """The ``X-Hub-Signature-256`` header value Meta sends with a webhook."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


def new_wamid() -> str:
    raw = b"\x00\x00" + secrets.token_bytes(28)
    return "wamid." + base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _envelope(value: dict[str, Any], phone_number_id: str) -> dict[str, Any]:
    value = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550000000", "phone_number_id": phone_number_id},
        **value,
    }
    return {
        "object": "whatsapp_business_account",
        "entry": [{"id": "100000000000000", "changes": [{"value": value, "field": "messages"}]}],
    }


def inbound_text_payload(
    *,
    wa_id: str,
    text: str,
    name: str = "Stand-in User",
    wamid: str | None = None,
    phone_number_id: str = "100000000000001",
) -> dict[str, Any]:
    """A webhook for a text a user sent, shaped like Meta's."""
    return _envelope(
        {
            "contacts": [{"profile": {"name": name}, "wa_id": wa_id}],
            "messages": [
                {
                    "from": wa_id,
                    "id": wamid or new_wamid(),
                    "timestamp": str(int(time.time())),
                    "text": {"body": text},
                    "type": "text",
                }
            ],
        },
        phone_number_id,
    )


def status_payload(
    *,
    wamid: str,
    status: str,
    recipient_id: str,
    callback_data: str = "",
    errors: list[dict[str, Any]] | None = None,
    timestamp: int | None = None,
    phone_number_id: str = "100000000000001",
) -> dict[str, Any]:
    """A status webhook (sent, delivered, read, failed) for one of the app's messages."""
    entry: dict[str, Any] = {
        "id": wamid,
        "status": status,
        "timestamp": str(timestamp if timestamp is not None else int(time.time())),
        "recipient_id": recipient_id,
    }
    if callback_data:
        entry["biz_opaque_callback_data"] = callback_data
    if errors:
        entry["errors"] = errors
    return _envelope({"statuses": [entry]}, phone_number_id)


def errors_payload(
    *, errors: list[dict[str, Any]], phone_number_id: str = "100000000000001"
) -> dict[str, Any]:
    """A webhook with errors for the change as a whole (``value.errors[]``), and nothing else."""
    return _envelope({"errors": errors}, phone_number_id)


def post_signed(url: str, payload: dict[str, Any], app_secret: str, timeout: float = 10) -> int:
    """POST a webhook payload signed like Meta signs it; returns the HTTP status."""
    body = json.dumps(payload).encode()
    response = requests.post(
        url,
        data=body,
        headers={"Content-Type": "application/json", "X-Hub-Signature-256": sign(body, app_secret)},
        timeout=timeout,
    )
    return response.status_code


class WhatsAppStandIn:
    """The fake Graph API server; thread-safe, startable on a free port."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        access_token: str | None = None,
        phone_number_id: str | None = None,
        app_secret: str | None = None,
        webhook_url: str | None = None,
        latency: float = 0.0,
        fault_mix: dict[int | str, float] | None = None,
        auto_status: bool = False,
        status_delay: float = 0.5,
        timeout_hold: float = 30.0,
        seed: int | None = None,
        limits: Limits | None = None,
        templates: dict[str, dict[str, str]] | None = None,
    ) -> None:
        self.host = host
        self.port = port
        self.access_token = access_token
        self.phone_number_id = phone_number_id
        self.app_secret = app_secret
        self.webhook_url = webhook_url
        self.latency = latency
        self.fault_mix: dict[int | str, float] = dict(fault_mix or {})
        self.auto_status = auto_status
        self.status_delay = status_delay
        self.timeout_hold = timeout_hold
        self._random = random.Random(seed)  # noqa: S311 (fault injection, not security)
        # Without limits given, none is enforced (a test that wants them says so).
        self.meta = MetaLimits(
            limits or Limits(messages_per_second=None, pair_interval=0, window_seconds=0)
        )
        # The templates it approves: TEMPLATES and ``templates``; reset() goes back to these.
        self._approved = (TEMPLATES, templates or {})
        self._templates = template_table(*self._approved)
        self._template_refusals: Counter[int] = Counter()
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self._faults: list[Fault] = []
        self._server: StandInServer | None = None
        self._thread: threading.Thread | None = None
        self._webhooks: queue.Queue[tuple[float, dict[str, Any]] | None] = queue.Queue()
        self._webhook_thread: threading.Thread | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> WhatsAppStandIn:
        handler = type("Handler", (_Handler,), {"standin": self})
        self._server = StandInServer((self.host, self.port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="whatsapp-standin", daemon=True
        )
        self._thread.start()
        self._webhook_thread = threading.Thread(
            target=self._post_webhooks, name="whatsapp-standin-webhooks", daemon=True
        )
        self._webhook_thread.start()
        return self

    def stop(self) -> None:
        self._webhooks.put(None)
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self) -> WhatsAppStandIn:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- control and inspection ---------------------------------------------------------------

    def reset(self) -> None:
        """Forget what was received, every fault, the limits' state and refusal counts, and the
        status webhooks not yet posted; latency and mix back to none, templates back to those it
        was started with."""
        with self._lock:
            self._received.clear()
            self._faults.clear()
            self.fault_mix.clear()
            self.latency = 0.0
            self._templates = template_table(*self._approved)
            self._template_refusals.clear()
        self.meta.reset()
        with contextlib.suppress(queue.Empty):
            while True:
                self._webhooks.get_nowait()

    def add_fault(
        self,
        *,
        code: int | None = None,
        kind: str = "error",
        nth: int | None = None,
        body_contains: str | None = None,
        times: int = 1,
        http_status: int | None = None,
    ) -> None:
        """Fail the ``nth`` request, or messages whose body contains a string, ``times`` times."""
        if kind == "error" and code not in ERRORS:
            raise ValueError(f"unknown error code {code}; known: {sorted(ERRORS)}")
        fault = Fault(
            code=code,
            kind=kind,
            nth=nth,
            body_contains=body_contains,
            times=times,
            http_status=http_status,
        )
        with self._lock:
            self._faults.append(fault)

    def set_fault_mix(self, mix: dict[int | str, float]) -> None:
        """Random faults: ``{131056: 0.05, "timeout": 0.01, "http500": 0.02}`` (probabilities)."""
        with self._lock:
            self.fault_mix = dict(mix)

    def add_template(self, name: str, language: str, body: str) -> None:
        """Approve a template (until reset()): ``body`` with placeholders {{1}}, {{2}}, ..."""
        with self._lock:
            self._templates[name, language] = Template(body)

    def set_template_status(self, name: str, language: str, status: str) -> None:
        """Mark a known template APPROVED, PAUSED or DISABLED (until reset())."""
        if status not in (APPROVED, *STATUS_REFUSED):
            raise ValueError(f"unknown template status {status!r}")
        with self._lock:
            self._templates[name, language].status = status

    def refusals(self) -> dict[int, int]:
        """How many sends the stand-in refused for Meta's limits, by code (130429, 131056,
        131047, 131048): tests and benchmarks assert there were none. Injected faults are not
        counted."""
        with self._lock:
            return dict(self.meta.refusals)

    def open_window(self, wa_id: str, at: float | None = None) -> None:
        """The user ``wa_id`` wrote at ``at`` (epoch seconds, now by default): texts to them go
        for the window's length from then."""
        self.meta.open_window(wa_id, at)

    def reached(self) -> int:
        """Unique users reached by business-initiated messages in the moving 24 h."""
        return self.meta.reached()

    def template_refusals(self) -> dict[int, int]:
        """How many template sends the stand-in refused, by code (132xxx, and 100 for a
        parameter Meta refuses)."""
        with self._lock:
            return dict(self._template_refusals)

    def received(self) -> list[Received]:
        with self._lock:
            return list(self._received)

    def delivered(self) -> list[Received]:
        """Requests answered with success (a wamid), in the order they arrived."""
        return [r for r in self.received() if r.wamid]

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        """Wait until ``count`` messages were accepted; raise TimeoutError with what came."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            delivered = self.delivered()
            if len(delivered) >= count:
                return delivered
            time.sleep(0.05)
        raise TimeoutError(
            f"the stand-in accepted {len(self.delivered())} of {count} messages in {timeout:g}s"
        )

    # --- webhooks back to the app -------------------------------------------------------------

    def post_webhook(self, payload: dict[str, Any]) -> int:
        if not self.webhook_url or not self.app_secret:
            raise RuntimeError("the stand-in needs webhook_url and app_secret to post webhooks")
        for change in (c for e in payload.get("entry", []) for c in e.get("changes", [])):
            value = change.get("value", {})
            number = str(value.get("metadata", {}).get("phone_number_id", ""))
            for message in value.get("messages", []):
                self.meta.count_inbound(number)
                # A message a test malformed on purpose still goes to the app, opening nothing.
                sender, timestamp = message.get("from"), str(message.get("timestamp", ""))
                if sender and timestamp.isdigit():
                    self.meta.open_window(str(sender), int(timestamp))
        return post_signed(self.webhook_url, payload, self.app_secret)

    def post_inbound_text(self, *, wa_id: str, text: str, name: str = "Stand-in User") -> int:
        return self.post_webhook(inbound_text_payload(wa_id=wa_id, text=text, name=name))

    def post_status(
        self, *, wamid: str, status: str, recipient_id: str, callback_data: str = ""
    ) -> int:
        return self.post_webhook(
            status_payload(
                wamid=wamid, status=status, recipient_id=recipient_id, callback_data=callback_data
            )
        )

    def _post_webhooks(self) -> None:
        while True:
            item = self._webhooks.get()
            if item is None:
                return
            due, payload = item
            time.sleep(max(0.0, due - time.monotonic()))
            try:
                self.post_webhook(payload)
            except (requests.RequestException, RuntimeError) as exc:
                logger.warning("status webhook not delivered: %s", exc)

    def _schedule_statuses(self, received: Received) -> None:
        if not (self.auto_status and self.webhook_url and self.app_secret and received.wamid):
            return
        callback = str(received.payload.get("biz_opaque_callback_data", ""))
        start = time.monotonic()
        for step, status in enumerate(("sent", "delivered", "read"), start=1):
            payload = status_payload(
                wamid=received.wamid,
                status=status,
                recipient_id=received.to,
                callback_data=callback,
            )
            self._webhooks.put((start + step * self.status_delay, payload))

    # --- request handling -----------------------------------------------------------------------

    def _pick_fault(self, number: int, body: str) -> Fault | None:
        with self._lock:
            for fault in self._faults:
                if fault.matches(number, body):
                    fault.times -= 1
                    return fault
            for key, probability in self.fault_mix.items():
                if self._random.random() < probability:
                    if isinstance(key, int):
                        return Fault(code=key)
                    return Fault(kind=key)
        return None

    def handle_send(
        self, path: str, authorization: str, raw: bytes
    ) -> tuple[int, dict[str, Any] | None]:
        """The response (status, JSON body; None for a dropped connection) to one send."""
        try:
            payload: Any = json.loads(raw or b"null")
        except ValueError:
            payload = None
        record = Received(at=time.time(), path=path, payload=payload, body=_text_body(payload))
        with self._lock:
            self._received.append(record)
            number = len(self._received)
        status, body = self._respond(record, number, authorization)
        record.status = status
        if body is not None and status == 200:
            record.wamid = body["messages"][0]["id"]
            self._schedule_statuses(record)
        return status, body

    def _respond(
        self, record: Received, number: int, authorization: str
    ) -> tuple[int, dict[str, Any] | None]:
        if self.latency:
            time.sleep(self.latency)
        match = MESSAGES_PATH.match(record.path)
        if match is None:
            return _graph_error(100, "Unknown path components", http_status=404)
        token = authorization.removeprefix("Bearer ").strip()
        if not authorization.startswith("Bearer ") or not token:
            return _graph_error(190)
        if self.access_token is not None and not hmac.compare_digest(token, self.access_token):
            return _graph_error(190)
        if self.phone_number_id is not None and match["phone_number_id"] != self.phone_number_id:
            return _graph_error(
                100,
                f"Unsupported post request. Object with ID '{match['phone_number_id']}' "
                "does not exist",
            )
        problem = _validate(record.payload)
        if problem:
            return _graph_error(100, f"(#100) {problem}")
        if record.payload.get("type") == "template":
            template_refused = self._template_refusal(record)
            if template_refused is not None:
                code, details = template_refused
                record.fault = f"template {code}"
                with self._lock:
                    self._template_refusals[code] += 1
                return _graph_error(code, details=details)
        fault = self._pick_fault(number, record.body)
        if fault is None:
            # An injected fault stands for Meta failing before counting the message.
            refused = self.meta.admit(
                match["phone_number_id"],
                record.to,
                template=record.payload.get("type") == "template",
            )
            if refused is not None:
                record.fault = f"limit {refused}"
                return _graph_error(refused)
        if fault is not None:
            record.fault = fault.kind if fault.code is None else str(fault.code)
            if fault.kind == TIMEOUT:
                time.sleep(self.timeout_hold)
                return 0, None
            if fault.kind == HTTP_500:
                return 500, None
            assert fault.code is not None
            return _graph_error(fault.code, http_status=fault.http_status)
        to = record.to
        return 200, {
            "messaging_product": "whatsapp",
            "contacts": [{"input": to, "wa_id": to}],
            "messages": [{"id": new_wamid()}],
        }

    def _template_refusal(self, record: Received) -> tuple[int, str] | None:
        """Meta's refusal (code, details) of a template send, or None after recording the text
        it sends as the record's body."""
        template = record.payload["template"]
        name, language = template["name"], template["language"]["code"]
        params = [
            parameter["text"]
            for component in template.get("components", [])
            if component.get("type") == "body"
            for parameter in component.get("parameters", [])
        ]
        with self._lock:
            approved = self._templates.get((name, language))
        if approved is None:
            return 132001, f"template name ({name}) does not exist in {language}"
        if approved.status in STATUS_REFUSED:
            return STATUS_REFUSED[approved.status], f"template {name} is {approved.status.lower()}"
        expected = approved.parameter_count()
        if len(params) != expected:
            return 132000, (
                f"body: number of localizable_params ({len(params)}) does not match the "
                f"expected number of params ({expected})"
            )
        if any(PARAMETER_REFUSED.search(param) for param in params):
            return 100, (
                "Param text cannot have new-line/tab characters or more than 4 consecutive spaces"
            )
        text = approved.text(params)
        if len(text) > MAX_TEMPLATE_LENGTH:
            return 132005, f"body is {len(text)} characters, at most {MAX_TEMPLATE_LENGTH}"
        record.body = text
        return None


def _text_body(payload: Any) -> str:
    if isinstance(payload, dict) and isinstance(payload.get("text"), dict):
        return str(payload["text"].get("body", ""))
    return ""


def _validate(payload: Any) -> str:
    if not isinstance(payload, dict):
        return "The request body is not a JSON object"
    if payload.get("messaging_product") != "whatsapp":
        return "The parameter messaging_product is required"
    to = payload.get("to")
    if not isinstance(to, str) or not to.strip("+").isdigit():
        return "The parameter to is required and must be a phone number"
    kind = payload.get("type", "text")
    if kind == "text":
        text = payload.get("text")
        body = text.get("body") if isinstance(text, dict) else None
        if not isinstance(body, str) or not body.strip():
            return "The parameter text['body'] is required"
        if len(body) > MAX_TEXT_LENGTH:
            return f"Param text['body'] must be at most {MAX_TEXT_LENGTH} characters long"
        return ""
    if kind == "template":
        return _template_problem(payload.get("template"))
    if kind in ("interactive", "image", "document", "reaction", "location"):
        return "" if isinstance(payload.get(kind), dict) else f"The parameter {kind} is required"
    return f"Param type {kind!r} is not supported"


def _template_problem(template: Any) -> str:
    """What makes a ``template`` object malformed (Meta's 100), or ""."""
    if not isinstance(template, dict):
        return "The parameter template is required"
    if not isinstance(template.get("name"), str) or not template["name"]:
        return "The parameter template['name'] is required"
    language = template.get("language")
    if not isinstance(language, dict) or not isinstance(language.get("code"), str):
        return "The parameter template['language']['code'] is required"
    components = template.get("components", [])
    if not isinstance(components, list) or not all(isinstance(c, dict) for c in components):
        return "Param template['components'] must be a list of objects"
    for component in components:
        parameters = component.get("parameters", [])
        if not isinstance(parameters, list) or not all(map(_is_text_parameter, parameters)):
            return "Param template['components'][]['parameters'] must be a list of texts"
    return ""


def _is_text_parameter(parameter: Any) -> bool:
    """A parameter of the one type the stand-in models (the app sends no other): a text."""
    return (
        isinstance(parameter, dict)
        and parameter.get("type") == "text"
        and isinstance(parameter.get("text"), str)
        and bool(parameter["text"])
    )


def _graph_error(
    code: int,
    message: str | None = None,
    *,
    http_status: int | None = None,
    details: str | None = None,
) -> tuple[int, dict[str, Any]]:
    default_status, default_message = ERRORS.get(code, (400, "Error"))
    text = message or f"(#{code}) {default_message}"
    return http_status or default_status, {
        "error": {
            "message": text,
            "type": "OAuthException",
            "code": code,
            "error_data": {"messaging_product": "whatsapp", "details": details or default_message},
            "fbtrace_id": secrets.token_urlsafe(16),
        }
    }


class _Handler(BaseHTTPRequestHandler):
    standin: WhatsAppStandIn
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _send_json(self, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        raw = self._read_body()
        if self.path == "/_standin/reset":
            self.standin.reset()
            self._send_json(200, {"ok": True})
            return
        if self.path == "/_standin/window":
            self._open_window(raw)
            return
        status, body = self.standin.handle_send(
            self.path, self.headers.get("Authorization", ""), raw
        )
        if status == 0:
            self.close_connection = True  # the "timeout" fault: no answer at all
            return
        if body is None:
            data = b"Internal Server Error"
            self.send_response(status)
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            return
        self._send_json(status, body)
        logger.info("%s %s -> %s %s", self.command, self.path, status, body.get("messages", ""))

    def _open_window(self, raw: bytes) -> None:
        """``{"wa_id": "<digits>", "at": <epoch seconds, optional>}``: the user wrote then."""
        try:
            body: Any = json.loads(raw or b"null")
        except ValueError:
            body = None
        wa_id = body.get("wa_id") if isinstance(body, dict) else None
        at = body.get("at") if isinstance(body, dict) else None
        if not (isinstance(wa_id, str) and wa_id.isdigit()):
            self._send_json(400, {"error": 'expected {"wa_id": "<digits>", "at": <seconds>}'})
            return
        if at is not None and (isinstance(at, bool) or not isinstance(at, int | float)):
            self._send_json(400, {"error": "at must be epoch seconds"})
            return
        self.standin.open_window(wa_id, at)
        self._send_json(200, {"ok": True})

    def do_GET(self) -> None:
        if self.path == "/_standin/received":
            self._send_json(200, [asdict(r) for r in self.standin.received()])
            return
        if self.path == "/_standin/refusals":
            self._send_json(200, {str(k): v for k, v in self.standin.refusals().items()})
            return
        if self.path == "/_standin/reached":
            self._send_json(200, {"users": self.standin.reached()})
            return
        self._send_json(*_graph_error(100, "Unsupported get request", http_status=400))


def _template_option(text: str) -> tuple[str, str, str]:
    name, _, rest = text.partition(":")
    language, _, body = rest.partition(":")
    if not (name and language and body):
        raise argparse.ArgumentTypeError(f"expected NAME:LANGUAGE:BODY, got {text!r}")
    return name, language, body


def _fault_rate(text: str) -> tuple[int | str, float]:
    key, _, probability = text.partition("=")
    return (int(key) if key.isdigit() else key), float(probability)


def _messaging_limit(text: str) -> int | None:
    # As the app reads WHATSAPP_MESSAGING_LIMIT (config.env.Env.limit): any case, spaces around.
    text = text.strip().lower()
    if text == "unlimited":
        return None
    try:
        limit = int(text)
    except ValueError:
        limit = -1
    if limit < 0:
        raise argparse.ArgumentTypeError(f"expected a number of users or 'unlimited', got {text!r}")
    return limit


def _default_host() -> str:
    # Inside a container other services must reach it; on a laptop keep it on loopback.
    return "0.0.0.0" if Path("/.dockerenv").exists() else "127.0.0.1"  # noqa: S104


def from_args(argv: list[str] | None = None) -> WhatsAppStandIn:
    """The stand-in the command line asks for, not started yet."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else "")
    parser.add_argument("--host", default=os.environ.get("WHATSAPP_STANDIN_HOST", _default_host()))
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument("--webhook-url", help="the app's webhook, for status webhooks")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds per request")
    parser.add_argument(
        "--fault-rate",
        action="append",
        type=_fault_rate,
        default=[],
        metavar="CODE=P",
        help="random fault probability, e.g. 131056=0.05, timeout=0.01, http500=0.02",
    )
    parser.add_argument(
        "--messages-per-second",
        type=float,
        default=80,
        help="the number's throughput level Meta enforces (130429 past it); 0 turns it off",
    )
    parser.add_argument(
        "--pair-interval",
        type=float,
        default=6,
        help="the pair rule's seconds per message to one user (Meta's 6 by default; 131056 past "
        "it); 0 turns it off",
    )
    parser.add_argument("--pair-burst", type=int, default=45, help="the pair rule's burst")
    parser.add_argument(
        "--window-hours",
        type=float,
        default=24,
        help="the customer service window a user's message opens (Meta's 24 by default; a text "
        "outside it: 131047); 0 turns it off",
    )
    parser.add_argument(
        "--messaging-limit",
        type=_messaging_limit,
        default=250,
        help="unique users templates outside their window may reach in a moving 24 h (Meta's "
        "first tier, 250, by default; past it: 131048), or 'unlimited'",
    )
    parser.add_argument(
        "--template",
        action="append",
        type=_template_option,
        default=[],
        metavar="NAME:LANGUAGE:BODY",
        help="approve one more template, e.g. 'order_shipped:en_US:Hi {{1}}, order {{2}} is on "
        "its way.' (repeatable; the app's own are approved already)",
    )
    parser.add_argument("--no-auto-status", action="store_true", help="post no status webhooks")
    parser.add_argument("--status-delay", type=float, default=1.0)
    args = parser.parse_args(argv)
    templates: dict[str, dict[str, str]] = {}
    for name, language, body in args.template:
        templates.setdefault(name, {})[language] = body
    return WhatsAppStandIn(
        host=args.host,
        port=args.port,
        app_secret=os.environ.get("WHATSAPP_APP_SECRET"),
        webhook_url=args.webhook_url,
        latency=args.latency,
        fault_mix=dict(args.fault_rate),
        auto_status=not args.no_auto_status,
        status_delay=args.status_delay,
        limits=Limits(
            messages_per_second=args.messages_per_second or None,
            pair_interval=args.pair_interval,
            pair_burst=args.pair_burst,
            window_seconds=args.window_hours * 3600,
            messaging_limit=args.messaging_limit,
        ),
        templates=templates,
    )


def main(argv: list[str] | None = None) -> int:
    standin = from_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if standin.webhook_url and not standin.app_secret:
        logger.warning("WHATSAPP_APP_SECRET is not set: no status webhooks will be posted")
    standin.start()
    stop_on_sigterm()
    logger.info(
        "WhatsApp stand-in listening on %s (webhooks to %s)", standin.url, standin.webhook_url
    )
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        standin.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
