"""Print a .env for local use, with freshly generated secrets (used by `make env`)."""

from __future__ import annotations

import re
import secrets
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parent.parent / ".env.example"
GENERATED = {
    "DJANGO_SECRET_KEY": lambda: secrets.token_urlsafe(50),
    "REDIS_PASSWORD": lambda: secrets.token_urlsafe(24),
    "POSTGRES_PASSWORD": lambda: secrets.token_urlsafe(24),
    "WHATSAPP_APP_SECRET": lambda: secrets.token_hex(16),
    "WHATSAPP_VERIFY_TOKEN": lambda: secrets.token_urlsafe(16),
    "FLOWER_BASIC_AUTH": lambda: f"admin:{secrets.token_urlsafe(24)}",
}


def main() -> None:
    for line in EXAMPLE.read_text().splitlines():
        match = re.match(r"^([A-Z0-9_]+)=", line)
        if match and match[1] in GENERATED:
            line = f"{match[1]}={GENERATED[match[1]]()}"
        print(line)


if __name__ == "__main__":
    main()
