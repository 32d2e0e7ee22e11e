"""The WhatsApp app's settings: each variable ``whatsapp.settings`` reads, set wrong, stops
start-up naming it (tests/startup.py); all set right, the project starts; each is documented in
the app's env.example."""

from __future__ import annotations

from tests.startup import BACKEND, case, startup_tests

BAD = [
    case("WHATSAPP_API_BASE_URL", "graph.facebook.com", "WHATSAPP_API_BASE_URL must be a URL"),
    case("WHATSAPP_API_VERSION", "26.0", "WHATSAPP_API_VERSION must be a Graph API version"),
    case("WHATSAPP_ACCESS_TOKEN", "Bearer EAAGsecret", "WHATSAPP_ACCESS_TOKEN must be a token"),
    case("WHATSAPP_PHONE_NUMBER_ID", "+1 555 0100", "WHATSAPP_PHONE_NUMBER_ID must be digits"),
    case("WHATSAPP_APP_SECRET", "change-me", "WHATSAPP_APP_SECRET is still 'change-me'"),
    case("WHATSAPP_VERIFY_TOKEN", "change-me", "WHATSAPP_VERIFY_TOKEN is still 'change-me'"),
    case("WHATSAPP_PART_SPACING_SECONDS", "-1", "WHATSAPP_PART_SPACING_SECONDS must be at least"),
    case("WHATSAPP_WEBHOOK_MAX_BYTES", "3MB", "WHATSAPP_WEBHOOK_MAX_BYTES must be an integer"),
    case("WHATSAPP_HTTP_POOL_SIZE", "0", "WHATSAPP_HTTP_POOL_SIZE must be at least 1"),
    case("WHATSAPP_SWEEP_AFTER_SECONDS", "2 min", "WHATSAPP_SWEEP_AFTER_SECONDS must be a number"),
    case("WHATSAPP_SEND_MAX_ATTEMPTS", "0", "WHATSAPP_SEND_MAX_ATTEMPTS must be at least 1"),
    case("WHATSAPP_TEXT_MAX_PARTS", "many", "WHATSAPP_TEXT_MAX_PARTS must be an integer"),
    # Meta's levels stop at 1,000 a second and its bursts at 45: more would be refused by Meta.
    case(
        "WHATSAPP_MESSAGES_PER_SECOND", "1001", "WHATSAPP_MESSAGES_PER_SECOND must be at most 1000"
    ),
    case("WHATSAPP_PAIR_INTERVAL_SECONDS", "0", "WHATSAPP_PAIR_INTERVAL_SECONDS must be at least"),
    case("WHATSAPP_PAIR_BURST", "46", "WHATSAPP_PAIR_BURST must be at most 45"),
    case("WHATSAPP_BURSTS_PER_WORKER", "0", "WHATSAPP_BURSTS_PER_WORKER must be at least 1"),
    case("WHATSAPP_MESSAGING_LIMIT", "0", "WHATSAPP_MESSAGING_LIMIT must be a whole number"),
    case("WHATSAPP_MESSAGING_LIMIT", "TIER_250", "WHATSAPP_MESSAGING_LIMIT must be a whole number"),
    case(
        "WHATSAPP_LIMIT_REFUSED_HOLD_SECONDS",
        "0",
        "WHATSAPP_LIMIT_REFUSED_HOLD_SECONDS must be at least 1",
    ),
]

GOOD = {
    "WHATSAPP_API_BASE_URL": "http://127.0.0.1:8081",
    "WHATSAPP_API_VERSION": "v26.0",
    "WHATSAPP_ACCESS_TOKEN": "EAAG-token_1",
    "WHATSAPP_PHONE_NUMBER_ID": "106540352242922",
    "WHATSAPP_APP_SECRET": "0123abcd",  # pragma: allowlist secret
    "WHATSAPP_VERIFY_TOKEN": "verify-me",
    "WHATSAPP_PART_SPACING_SECONDS": "0",
    "WHATSAPP_WEBHOOK_MAX_BYTES": "3145728",
    "WHATSAPP_HTTP_POOL_SIZE": "100",
    "WHATSAPP_SWEEP_AFTER_SECONDS": "120",
    "WHATSAPP_SEND_MAX_ATTEMPTS": "6",
    "WHATSAPP_TEXT_MAX_PARTS": "5",
    "WHATSAPP_MESSAGES_PER_SECOND": "1000",
    "WHATSAPP_PAIR_INTERVAL_SECONDS": "6",
    "WHATSAPP_PAIR_BURST": "45",
    "WHATSAPP_BURSTS_PER_WORKER": "20",
    "WHATSAPP_MESSAGING_LIMIT": "Unlimited",
    "WHATSAPP_LIMIT_REFUSED_HOLD_SECONDS": "600",
}

globals().update(
    startup_tests(
        BAD,
        GOOD,
        sources=[BACKEND / "whatsapp" / "settings.py"],
        example=BACKEND / "whatsapp" / "env.example",
    )
)
