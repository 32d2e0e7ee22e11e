"""``bare.send``, the baseline of bench/whatsapp/io_throughput.py: the WhatsApp send a user would
write by hand, registered on bench/bare_app.py's tiny Celery app.

It POSTs the same JSON as ``whatsapp.client`` through the bare app's ``requests.Session``; no
database, no result. The bare worker loads it with ``--include bare_send`` (this folder on
PYTHONPATH), with BARE_API_URL and BARE_TOKEN set.
"""

from __future__ import annotations

import os

from bare_app import app, session


@app.task(name="bare.send")
def send(to: str, body: str, callback_data: str) -> str:
    payload = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": to,
        "type": "text",
        "text": {"preview_url": False, "body": body},
        "biz_opaque_callback_data": callback_data,
    }
    response = session.post(os.environ["BARE_API_URL"], json=payload, timeout=(3.05, 10))
    response.raise_for_status()
    return str(response.json()["messages"][0]["id"])
