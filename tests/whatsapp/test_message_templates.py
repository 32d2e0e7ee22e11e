"""The templates the app knows: well formed, and the ones the stand-in approves by default."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ImproperlyConfigured

from devstack.standins import whatsapp as standin_module
from whatsapp import validation
from whatsapp.message_templates import (
    BODY_MAX_LENGTH,
    PLACEHOLDER,
    TEMPLATES,
    _check,
    hydrate,
    parameter_count,
)


def test_the_stand_in_approves_the_apps_templates_by_default():
    # The stand-in cannot import the app (its image holds devstack/ only): the copy must not
    # drift, or a green test would send a template Meta does not have.
    assert standin_module.TEMPLATES == TEMPLATES
    # and it refuses what the app refuses before queuing, no more, no less
    assert standin_module.MAX_TEMPLATE_LENGTH == BODY_MAX_LENGTH
    assert standin_module.PARAMETER_REFUSED.pattern == validation._PARAMETER_REFUSED.pattern


def test_a_template_whose_placeholders_have_a_gap_stops_the_start():
    with pytest.raises(ImproperlyConfigured, match=r"numbers its placeholders \[1, 3\]"):
        _check({"reminder": {"en_US": "Hi {{1}}, due {{3}}"}})


@pytest.mark.parametrize(
    ("name", "language", "body"),
    [(n, lang, body) for n, languages in TEMPLATES.items() for lang, body in languages.items()],
)
def test_each_template_numbers_its_placeholders_from_one_without_gaps(name, language, body):
    # Meta approves only {{1}} .. {{n}}; a gap would make the parameter count wrong.
    numbers = sorted({int(n) for n in PLACEHOLDER.findall(body)})
    assert numbers == list(range(1, len(numbers) + 1)), (name, language)
    assert re.fullmatch(r"[a-z0-9_]+", name)  # Meta's names: lowercase letters, digits, _


def test_the_parameter_count_follows_from_the_body():
    assert parameter_count("Hi {{1}}, your payment of {{2}} is due on {{3}}.") == 3
    assert parameter_count("{{1}} and {{1}} again") == 1
    assert parameter_count("No parameters.") == 0


def test_hydrating_fills_each_placeholder_with_its_parameter():
    body = TEMPLATES["payment_reminder"]["en_US"]
    assert (
        hydrate(body, ["Ada", "€12.50", "1 March"])
        == "Hi Ada, your payment of €12.50 is due on 1 March."
    )
    assert hydrate("{{2}} before {{1}}", ["a", "b"]) == "b before a"
