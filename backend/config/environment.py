"""The environment every settings module reads: ``.env`` loaded once (the real environment wins),
and whether this process runs in production (DJANGO_DEBUG off, where placeholder secrets are
refused). ``config.settings`` and each app's ``settings`` module import ``env`` from here.
"""

from __future__ import annotations

from pathlib import Path

from dotenv import load_dotenv

from config.env import Env

BACKEND_DIR = Path(__file__).resolve().parent.parent
REPO_DIR = BACKEND_DIR.parent

env = Env()
# interpolate=False: Compose-style ${VAR} references are refused, not half-expanded.
# DOTENV_DISABLED=1 (set by the tests) keeps a developer's .env out of the picture.
if not env.bool("DOTENV_DISABLED", False):
    load_dotenv(REPO_DIR / ".env", override=False, interpolate=False)

DEBUG = env.bool("DJANGO_DEBUG", False)
# With debug off, secrets still holding .env.example's "change-me" are refused (env.secret).
production = not DEBUG
