"""The stand-in answers template sends as Meta does: approved templates go, with their text
recorded; anything else gets Meta's code, and is counted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest
import requests

from devstack.redis_server import free_port
from devstack.standins.whatsapp import DISABLED, PAUSED
from tests.whatsapp.conftest import ACCESS_TOKEN, PHONE_NUMBER_ID

TO = "15551234567"


def _template(name: str, language: str, *params: str) -> dict[str, Any]:
    template: dict[str, Any] = {"name": name, "language": {"code": language}}
    if params:
        parameters = [{"type": "text", "text": p} for p in params]
        template["components"] = [{"type": "body", "parameters": parameters}]
    return template


def _send(url: str, template: Any) -> requests.Response:
    return requests.post(
        f"{url}/v26.0/{PHONE_NUMBER_ID}/messages",
        json={"messaging_product": "whatsapp", "to": TO, "type": "template", "template": template},
        headers={"Authorization": f"Bearer {ACCESS_TOKEN}"},
        timeout=5,
    )


def _error(response: requests.Response) -> tuple[int, str]:
    error = response.json()["error"]
    return error["code"], error["error_data"]["details"]


def test_an_approved_template_is_accepted_and_recorded_with_its_text(standin):
    # when
    response = _send(standin.url, _template("payment_reminder", "en_US", "Ada", "€12", "1 May"))
    # then
    assert response.status_code == 200
    [received] = standin.delivered()
    assert received.wamid == response.json()["messages"][0]["id"]
    assert received.body == "Hi Ada, your payment of €12 is due on 1 May."
    assert standin.refusals() == {}


@pytest.mark.parametrize(
    ("template", "code", "details"),
    [
        (
            _template("order_shipped", "en_US", "Ada"),
            132001,
            "template name (order_shipped) does not exist in en_US",
        ),
        (
            _template("payment_reminder", "fr_FR", "Ada", "€12", "1 May"),
            132001,
            "template name (payment_reminder) does not exist in fr_FR",
        ),
        (
            _template("payment_reminder", "en_US", "Ada", "€12"),
            132000,
            "number of localizable_params (2) does not match the expected number of params (3)",
        ),
        (_template("payment_reminder", "en_US"), 132000, "localizable_params (0)"),
        (
            _template("payment_reminder", "en_US", "Ada", "€12", "1 May\n2026"),
            100,
            "cannot have new-line/tab characters or more than 4 consecutive spaces",
        ),
        (
            _template("payment_reminder", "en_US", "Ada" + " " * 5 + "L.", "€12", "1 May"),
            100,
            "more than 4 consecutive spaces",
        ),
        (
            _template("payment_reminder", "en_US", "Ada", "x" * 1000, "1 May"),
            132005,
            "at most 1024",
        ),
    ],
    ids=[
        "unknown-name",
        "unknown-language",
        "too-few-params",
        "no-params",
        "line-break",
        "five-spaces",
        "too-long",
    ],
)
def test_a_template_meta_would_not_send_gets_its_code_and_is_counted(
    standin, template, code, details
):
    # when
    response = _send(standin.url, template)
    # then
    assert response.status_code in (400, 404)
    got_code, got_details = _error(response)
    assert got_code == code
    assert details in got_details
    assert standin.delivered() == []
    assert standin.template_refusals() == {code: 1}
    assert standin.refusals() == {}


@pytest.mark.parametrize(("status", "code"), [(PAUSED, 132015), (DISABLED, 132016)])
def test_a_paused_or_disabled_template_is_refused_until_approved_again(standin, status, code):
    # given
    standin.set_template_status("payment_received", "en_US", status)
    template = _template("payment_received", "en_US", "Ada", "€12")
    # when / then
    assert _error(_send(standin.url, template))[0] == code
    standin.set_template_status("payment_received", "en_US", "APPROVED")
    assert _send(standin.url, template).status_code == 200
    assert standin.template_refusals() == {code: 1}
    assert standin.refusals() == {}


@pytest.mark.parametrize(
    "template",
    [
        None,
        {"language": {"code": "en_US"}},
        {"name": "payment_received", "language": "en_US"},
        {"name": "payment_received", "language": {"code": "en_US"}, "components": {}},
        _template("payment_received", "en_US", "Ada", ""),
        {
            "name": "payment_received",
            "language": {"code": "en_US"},
            "components": [{"type": "body", "parameters": ["Ada", "€12"]}],
        },
    ],
    ids=["none", "no-name", "language-not-object", "components-not-list", "empty-text", "bare"],
)
def test_a_malformed_template_object_is_invalid_parameter(standin, template):
    response = _send(standin.url, template)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == 100


def test_templates_added_from_a_test_go_until_reset(standin):
    # given
    standin.add_template("order_shipped", "pt_BR", "Olá {{1}}, o pedido {{2}} foi enviado.")
    # when
    response = _send(standin.url, _template("order_shipped", "pt_BR", "Ana", "42"))
    # then
    assert response.status_code == 200
    assert standin.delivered()[0].body == "Olá Ana, o pedido 42 foi enviado."
    standin.reset()
    assert _error(_send(standin.url, _template("order_shipped", "pt_BR", "Ana", "42")))[0] == (
        132001
    )


def test_an_injected_fault_can_target_a_template_by_its_text(standin):
    standin.add_fault(code=132007, body_contains="payment of €12")
    template = _template("payment_received", "en_US", "Ada", "€12")
    assert _error(_send(standin.url, template))[0] == 132007
    assert _send(standin.url, template).status_code == 200


def test_the_command_line_approves_more_templates():
    # given the stand-in run as a process, told of one more template
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "devstack.standins.whatsapp",
            "--host=127.0.0.1",
            f"--port={port}",
            "--no-auto-status",
            "--template",
            "order_shipped:en_US:Hi {{1}}, order {{2}} is on its way.",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                requests.get(f"{url}/_standin/received", timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        # when both the added and a default template are sent
        added = _send(url, _template("order_shipped", "en_US", "Ada", "42"))
        default = _send(url, _template("payment_received", "en_US", "Ada", "€12"))
        received = json.loads(requests.get(f"{url}/_standin/received", timeout=5).text)
    finally:
        process.terminate()
        process.wait(timeout=10)
    # then both went, and the received list reads their text
    assert (added.status_code, default.status_code) == (200, 200)
    assert [r["body"] for r in received] == [
        "Hi Ada, order 42 is on its way.",
        "Hi Ada, we received your payment of €12. Thank you!",
    ]


def test_a_template_option_without_a_body_is_refused():
    result = subprocess.run(
        [sys.executable, "-m", "devstack.standins.whatsapp", "--template", "order_shipped:en_US"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert "expected NAME:LANGUAGE:BODY" in result.stderr
