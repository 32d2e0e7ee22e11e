"""The whatsapp app on the development setup (the ``dev`` fixture, tests/compose/fixtures.py):
a multi-part reply goes through web, worker-io and the WhatsApp stand-in."""

from __future__ import annotations

import json
import re

import pytest

pytestmark = pytest.mark.compose


def test_a_multi_part_reply_reaches_the_standin_complete_and_in_order(dev):
    out = dev.exec(
        "web",
        "python",
        "manage.py",
        "whatsapp_demo",
        "--base-url=http://127.0.0.1:8000",
        "--paragraphs=40",
        "--timeout=150",
    )
    assert "done: every part sent, in order" in out
    parts = int(re.search(r"as (\d+) parts", out)[1])  # type: ignore[index]
    assert parts >= 3
    received = json.loads(
        dev.exec(
            "web",
            "python",
            "-c",
            "import urllib.request; print(urllib.request.urlopen("
            "'http://whatsapp-standin:8081/_standin/received').read().decode())",
        )
    )
    bodies = [r["payload"]["text"]["body"] for r in received if r.get("wamid")]
    assert bodies[0].startswith("Commands:")
    paragraphs = [int(m) for body in bodies[1:] for m in re.findall(r"Paragraph (\d+)\.", body)]
    # every paragraph three times, in order, and no part twice
    assert paragraphs == [n for n in range(1, 41) for _ in range(3)]
    assert len(bodies) == 1 + parts
