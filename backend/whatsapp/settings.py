"""The WhatsApp app's settings, read from the environment (its variables: env.example here).

``config.settings`` reads these after the core's (config.discovery); code reads them as
``django.conf.settings.WHATSAPP_...``. A missing or malformed variable stops start-up naming it.
"""

from __future__ import annotations

import re

from config.env import DIGITS, HTTP_SCHEMES, TOKEN, Shape
from config.environment import env, production

WHATSAPP_API_BASE_URL = env.url(
    "WHATSAPP_API_BASE_URL", "https://graph.facebook.com", schemes=HTTP_SCHEMES
)
WHATSAPP_API_VERSION = env.str(
    "WHATSAPP_API_VERSION",
    "v26.0",
    shape=Shape(re.compile(r"v[0-9]+\.[0-9]+"), "a Graph API version such as v26.0"),
)
WHATSAPP_ACCESS_TOKEN = env.optional("WHATSAPP_ACCESS_TOKEN", shape=TOKEN)
WHATSAPP_PHONE_NUMBER_ID = env.optional("WHATSAPP_PHONE_NUMBER_ID", shape=DIGITS)
WHATSAPP_APP_SECRET = env.secret("WHATSAPP_APP_SECRET", production=production)
WHATSAPP_VERIFY_TOKEN = env.secret("WHATSAPP_VERIFY_TOKEN", production=production)
# Between the parts of a reply inside one pair-rule burst: short, so that a long reply fits one
# burst (docs/decisions.md, "Part spacing inside the pair rule's burst").
WHATSAPP_PART_SPACING_SECONDS = env.float("WHATSAPP_PART_SPACING_SECONDS", 0.2, minimum=0)
WHATSAPP_WEBHOOK_MAX_BYTES = env.int("WHATSAPP_WEBHOOK_MAX_BYTES", 3 * 1024 * 1024, minimum=1024)
WHATSAPP_HTTP_POOL_SIZE = env.int("WHATSAPP_HTTP_POOL_SIZE", 100, minimum=1)
# The sweeper re-enqueues a queued message whose wake-up is this overdue (its task was lost) and
# resends one stuck in `sending` this long (and past the send task's time limit).
WHATSAPP_SWEEP_AFTER_SECONDS = env.float("WHATSAPP_SWEEP_AFTER_SECONDS", 15.0, minimum=0)
# Send attempts per message (transient errors, pair rate limits) before it is marked failed.
WHATSAPP_SEND_MAX_ATTEMPTS = env.int("WHATSAPP_SEND_MAX_ATTEMPTS", 6, minimum=1)
# The most parts (of 4096 characters each) one text may be split into; a longer one is refused.
WHATSAPP_TEXT_MAX_PARTS = env.int("WHATSAPP_TEXT_MAX_PARTS", 50, minimum=1)
# Meta's limits (docs/whatsapp.md, "Meta's limits"): the number's throughput level, messages a
# second in and out together (80 by default, 1,000 after Meta's upgrade, 20 for a number shared
# with the Business app), paced across every worker; and the pair rule, one message per interval
# to one user with bursts of at most WHATSAPP_PAIR_BURST.
WHATSAPP_MESSAGES_PER_SECOND = env.int("WHATSAPP_MESSAGES_PER_SECOND", 80, minimum=1, maximum=1000)
WHATSAPP_PAIR_INTERVAL_SECONDS = env.float(
    "WHATSAPP_PAIR_INTERVAL_SECONDS", 6.0, minimum=0.1, maximum=3600
)
WHATSAPP_PAIR_BURST = env.int("WHATSAPP_PAIR_BURST", 45, minimum=1, maximum=45)
# The replies' bursts one worker-io process carries at once (whatsapp.carry); a reply beyond them
# waits for a free one instead of slowing them all until their bursts break.
WHATSAPP_BURSTS_PER_WORKER = env.int("WHATSAPP_BURSTS_PER_WORKER", 20, minimum=1)

# Meta's messaging limit: unique users reached by business-initiated messages (templates outside
# their 24-hour window) in a moving 24 h, per business portfolio: 250, 2000, 10000, 100000 or
# unlimited (the level WhatsApp Manager shows). Sends past it are held, not failed.
WHATSAPP_MESSAGING_LIMIT = env.limit("WHATSAPP_MESSAGING_LIMIT", 250)
# How long a business-initiated message Meta refused for the messaging limit (131048) is held
# before it is tried again.
WHATSAPP_LIMIT_REFUSED_HOLD_SECONDS = env.float(
    "WHATSAPP_LIMIT_REFUSED_HOLD_SECONDS", 3600.0, minimum=1
)
