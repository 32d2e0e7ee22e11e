"""The stand-in keeps conversations as Meta does: a user's 24-hour customer service window (a
text outside it: 131047) and the messaging limit on business-initiated templates (131048).

The unit tests drive both clocks by hand; the HTTP tests use stand-ins of their own (the
``standin`` fixture asserts that nothing was refused)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import requests

from devstack.standins._whatsapp_limits import (
    MESSAGING_LIMIT_REFUSED,
    MESSAGING_PERIOD,
    PAIR_REFUSED,
    THROUGHPUT_REFUSED,
    WINDOW_CLOSED,
    Limits,
    MetaLimits,
)
from devstack.standins.whatsapp import WhatsAppStandIn, from_args, inbound_text_payload

NUMBER = "100000000000001"
TOKEN = "conversations-token"
SECRET = "conversations-secret"  # pragma: allowlist secret (signs test webhooks)
WINDOW = 86400.0
START = 1_700_000_000.0  # epoch seconds


class Clock:
    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock(1000.0)


@pytest.fixture
def wall() -> Clock:
    return Clock(START)


def meta(
    clock: Clock,
    wall: Clock,
    *,
    level: float | None = None,
    pair_interval: float = 0,
    pair_burst: int = 45,
    window: float = WINDOW,
    limit: int | None = None,
) -> MetaLimits:
    limits = Limits(level, pair_interval, pair_burst, window_seconds=window, messaging_limit=limit)
    return MetaLimits(limits, clock=clock, wall=wall)


# --- the customer service window -------------------------------------------------------------


def test_a_text_to_a_user_who_never_wrote_is_refused_and_changes_nothing(clock, wall):
    # given a number whose level is one message at a time, and pairs of one message
    limits = meta(clock, wall, level=1, pair_interval=6, pair_burst=1)
    # when
    refused = limits.admit(NUMBER, "441")
    limits.open_window("441")
    # then the refusal took no token and started no pair
    assert refused == WINDOW_CLOSED
    assert limits.admit(NUMBER, "441") is None
    assert limits.refusals == {WINDOW_CLOSED: 1}


def test_an_inbound_message_opens_the_window_for_its_length(clock, wall):
    limits = meta(clock, wall)
    limits.open_window("441", at=START)
    wall.now = START + WINDOW - 1
    assert limits.admit(NUMBER, "441") is None
    wall.now = START + WINDOW  # the last message is now exactly 24 h old
    assert limits.admit(NUMBER, "441") == WINDOW_CLOSED


def test_open_window_defaults_to_now_on_the_wall_clock(clock, wall):
    limits = meta(clock, wall)
    wall.now = START + 500
    limits.open_window("441")
    wall.now = START + 500 + WINDOW - 1
    assert limits.admit(NUMBER, "441") is None


def test_a_later_message_renews_the_window(clock, wall):
    limits = meta(clock, wall)
    limits.open_window("441", at=START)
    limits.open_window("441", at=START + 100)
    wall.now = START + WINDOW + 50
    assert limits.admit(NUMBER, "441") is None
    wall.now = START + WINDOW + 100
    assert limits.admit(NUMBER, "441") == WINDOW_CLOSED


def test_an_older_message_never_shortens_the_window(clock, wall):
    # given webhooks out of order: the newer message first
    limits = meta(clock, wall)
    limits.open_window("441", at=START + 100)
    limits.open_window("441", at=START)
    # then the window runs from the newer one
    wall.now = START + WINDOW + 50
    assert limits.admit(NUMBER, "441") is None


def test_windows_are_kept_per_user(clock, wall):
    limits = meta(clock, wall)
    limits.open_window("441")
    assert limits.admit(NUMBER, "441") is None
    assert limits.admit(NUMBER, "442") == WINDOW_CLOSED


def test_without_a_window_every_text_goes(clock, wall):
    limits = meta(clock, wall, window=0)
    assert limits.admit(NUMBER, "441") is None
    assert limits.refusals == {}


def test_the_window_is_checked_before_throughput(clock, wall):
    limits = meta(clock, wall, level=1)
    limits.open_window("441")
    assert limits.admit(NUMBER, "441") is None  # the number's only token
    assert limits.admit(NUMBER, "442") == WINDOW_CLOSED
    assert limits.refusals == {WINDOW_CLOSED: 1}


# --- the messaging limit ---------------------------------------------------------------------


def test_a_template_outside_the_window_counts_and_inside_does_not(clock, wall):
    limits = meta(clock, wall)
    limits.open_window("441")
    assert limits.admit(NUMBER, "441", template=True) is None
    assert limits.reached() == 0
    assert limits.admit(NUMBER, "442", template=True) is None
    assert limits.reached() == 1


def test_past_the_limit_a_new_user_is_refused_until_the_period_moves_on(clock, wall):
    # given a limit of 2 users, both reached
    limits = meta(clock, wall, limit=2)
    assert limits.admit(NUMBER, "441", template=True) is None
    assert limits.admit(NUMBER, "442", template=True) is None
    # when a third user is sent a template
    refused = limits.admit(NUMBER, "443", template=True)
    # then
    assert refused == MESSAGING_LIMIT_REFUSED
    assert limits.refusals == {MESSAGING_LIMIT_REFUSED: 1}
    assert limits.reached() == 2
    assert limits.admit(NUMBER, "441", template=True) is None  # reached already: it goes
    wall.now = START + MESSAGING_PERIOD - 1
    assert limits.admit(NUMBER, "443", template=True) == MESSAGING_LIMIT_REFUSED
    wall.now = START + MESSAGING_PERIOD  # the first reaches are 24 h old
    assert limits.admit(NUMBER, "443", template=True) is None
    assert limits.reached() == 1


def test_reaching_a_user_again_renews_the_reach(clock, wall):
    limits = meta(clock, wall, limit=1)
    assert limits.admit(NUMBER, "441", template=True) is None
    wall.now = START + MESSAGING_PERIOD / 2
    assert limits.admit(NUMBER, "441", template=True) is None
    wall.now = START + MESSAGING_PERIOD
    assert limits.reached() == 1
    assert limits.admit(NUMBER, "442", template=True) == MESSAGING_LIMIT_REFUSED
    wall.now = START + MESSAGING_PERIOD * 1.5
    assert limits.admit(NUMBER, "442", template=True) is None


def test_a_template_inside_the_window_goes_past_the_limit(clock, wall):
    limits = meta(clock, wall, limit=1)
    assert limits.admit(NUMBER, "441", template=True) is None
    limits.open_window("442")
    assert limits.admit(NUMBER, "442", template=True) is None
    assert limits.reached() == 1


def test_a_refused_message_takes_no_token_and_reaches_no_one(clock, wall):
    # given a number with one token a second and a limit of 2 users, one reached
    limits = meta(clock, wall, level=1, limit=2)
    assert limits.admit(NUMBER, "441", template=True) is None
    # when the next template finds the number out of tokens
    assert limits.admit(NUMBER, "442", template=True) == THROUGHPUT_REFUSED
    # then the user was not reached, and the limit's refusal takes no token either
    assert limits.reached() == 1
    clock.now += 1
    assert limits.admit(NUMBER, "442", template=True) is None
    clock.now += 1
    assert limits.admit(NUMBER, "443", template=True) == MESSAGING_LIMIT_REFUSED
    limits.open_window("443")
    assert limits.admit(NUMBER, "443") is None
    assert limits.refusals == {THROUGHPUT_REFUSED: 1, MESSAGING_LIMIT_REFUSED: 1}


def test_a_template_the_pair_rule_refuses_reaches_no_one(clock, wall):
    limits = meta(clock, wall, pair_interval=6, pair_burst=1, limit=1)
    limits.open_window("441")
    assert limits.admit(NUMBER, "441") is None
    wall.now += WINDOW  # the window closed; the pair is still busy
    assert limits.admit(NUMBER, "441", template=True) == PAIR_REFUSED
    assert limits.reached() == 0
    assert limits.admit(NUMBER, "442", template=True) is None


def test_reset_forgets_windows_and_reaches(clock, wall):
    limits = meta(clock, wall, limit=1)
    limits.open_window("441")
    assert limits.admit(NUMBER, "442", template=True) is None
    limits.reset()
    assert limits.reached() == 0
    assert limits.admit(NUMBER, "441") == WINDOW_CLOSED
    assert limits.admit(NUMBER, "443", template=True) is None


# --- over HTTP -------------------------------------------------------------------------------


class _Receiver(BaseHTTPRequestHandler):
    """The app's webhook as far as the stand-in can tell: every POST gets 200."""

    received: list[Any]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        self.received.append(json.loads(self.rfile.read(length)))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def webhook_receiver() -> Iterator[tuple[str, list[Any]]]:
    received: list[Any] = []
    handler = type("Receiver", (_Receiver,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/whatsapp/webhook/", received
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="module")
def server(webhook_receiver) -> Iterator[WhatsAppStandIn]:
    url, _ = webhook_receiver
    with WhatsAppStandIn(
        access_token=TOKEN, phone_number_id=NUMBER, app_secret=SECRET, webhook_url=url
    ) as standin:
        yield standin


@pytest.fixture
def standin(server: WhatsAppStandIn) -> WhatsAppStandIn:
    """The module's stand-in, fresh, with Meta's window and a messaging limit of one user."""
    server.meta = MetaLimits(Limits(None, pair_interval=0, messaging_limit=1))
    server.reset()
    return server


def _send(standin: WhatsAppStandIn, to: str, *, template: bool = False) -> requests.Response:
    message: dict[str, Any] = {"messaging_product": "whatsapp", "to": to}
    if template:
        message["type"] = "template"
        message["template"] = {"name": "payment_received", "language": {"code": "en_US"}}
        parameters = [{"type": "text", "text": "Ada"}, {"type": "text", "text": "€12"}]
        message["template"]["components"] = [{"type": "body", "parameters": parameters}]
    else:
        message["type"] = "text"
        message["text"] = {"body": "hello"}
    return requests.post(
        f"{standin.url}/v26.0/{NUMBER}/messages",
        json=message,
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=5,
    )


def test_a_text_to_a_user_who_never_wrote_gets_131047_in_metas_envelope(standin):
    # when
    response = _send(standin, "447700900001")
    # then
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == WINDOW_CLOSED
    assert error["message"] == "(#131047) Re-engagement message"
    assert error["type"] == "OAuthException"
    assert error["error_data"]["messaging_product"] == "whatsapp"
    assert error["fbtrace_id"]
    assert standin.delivered() == []
    assert standin.refusals() == {WINDOW_CLOSED: 1}


def test_a_window_opened_over_http_lets_a_text_go(standin):
    # given
    opened = requests.post(
        f"{standin.url}/_standin/window", json={"wa_id": "447700900001"}, timeout=5
    )
    # when
    response = _send(standin, "447700900001")
    # then
    assert opened.status_code == 200
    assert opened.json() == {"ok": True}
    assert response.status_code == 200
    assert standin.refusals() == {}


def test_a_window_opened_over_http_at_a_time_closes_24_hours_later(standin):
    day_ago = standin.meta.wall() - WINDOW
    requests.post(
        f"{standin.url}/_standin/window", json={"wa_id": "447700900001", "at": day_ago}, timeout=5
    )
    assert _send(standin, "447700900001").json()["error"]["code"] == WINDOW_CLOSED


@pytest.mark.parametrize(
    "body",
    [b"", b"{not json", b"[]", b'{"wa_id": "+447700900001"}', b'{"wa_id": 447700900001}'],
    ids=["empty", "not-json", "not-object", "plus-sign", "number"],
)
def test_a_window_without_a_digits_only_wa_id_is_a_bad_request(standin, body):
    response = requests.post(f"{standin.url}/_standin/window", data=body, timeout=5)
    assert response.status_code == 400
    assert "error" in response.json()


def test_templates_to_users_outside_their_window_are_counted_and_limited(standin):
    # when
    first = _send(standin, "447700900001", template=True)
    second = _send(standin, "447700900002", template=True)
    # then
    assert first.status_code == 200
    assert second.status_code == 400
    error = second.json()["error"]
    assert (error["code"], error["message"]) == (131048, "(#131048) Spam rate limit hit")
    assert requests.get(f"{standin.url}/_standin/reached", timeout=5).json() == {"users": 1}
    assert standin.reached() == 1
    assert standin.refusals() == {MESSAGING_LIMIT_REFUSED: 1}


def test_an_inbound_text_the_standin_posts_opens_the_window(standin, webhook_receiver):
    # given
    _, received = webhook_receiver
    received.clear()
    # when
    status = standin.post_inbound_text(wa_id="447700900003", text="fixtures")
    response = _send(standin, "447700900003")
    # then
    assert status == 200
    assert received[0]["entry"][0]["changes"][0]["value"]["messages"][0]["from"] == "447700900003"
    assert response.status_code == 200
    assert standin.refusals() == {}


def test_an_inbound_message_opens_the_window_from_its_timestamp(standin):
    # given a message the user sent a day ago, posted late
    payload = inbound_text_payload(wa_id="447700900004", text="hi", phone_number_id=NUMBER)
    [message] = payload["entry"][0]["changes"][0]["value"]["messages"]
    message["timestamp"] = str(int(standin.meta.wall() - WINDOW - 1))
    # when
    assert standin.post_webhook(payload) == 200
    # then its window has closed already
    assert _send(standin, "447700900004").json()["error"]["code"] == WINDOW_CLOSED


# --- the command line --------------------------------------------------------------------------


def test_the_command_line_defaults_to_metas_window_and_first_tier():
    limits = from_args([]).meta.limits
    assert (limits.window_seconds, limits.messaging_limit) == (WINDOW, 250)


def test_the_command_line_turns_the_window_off_and_the_limit_unlimited():
    limits = from_args(["--window-hours=0", "--messaging-limit=unlimited"]).meta.limits
    assert (limits.window_seconds, limits.messaging_limit) == (0, None)
    limits = from_args(["--window-hours=1.5", "--messaging-limit=2000"]).meta.limits
    assert (limits.window_seconds, limits.messaging_limit) == (5400, 2000)


@pytest.mark.parametrize("value", ["lots", "-1"])
def test_the_command_line_refuses_a_limit_that_is_not_a_count(value, capsys):
    with pytest.raises(SystemExit):
        from_args([f"--messaging-limit={value}"])
    assert "expected a number of users or 'unlimited'" in capsys.readouterr().err
