# Multi-stage: dependencies are installed from the hash-locked requirements in a builder, and
# only the virtualenv and the code reach the small runtime image, which runs as a non-root user.
# No `# syntax=` line: BuildKit would fetch that frontend image from a registry, and nothing here
# needs a newer Dockerfile syntax than the builder's own.

ARG PYTHON_VERSION=3.12

FROM python:${PYTHON_VERSION}-slim-bookworm AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
# Only the lock: this layer, the slow one, is rebuilt when dependencies change, not the code.
COPY requirements/base.lock /tmp/base.lock
RUN /opt/venv/bin/pip install --require-hashes -r /tmp/base.lock

# collectstatic's output, once for both images that serve it: the app (WhiteNoise) and the proxy.
# The key is a throwaway used by this step only.
FROM builder AS static
WORKDIR /app/backend
COPY backend/ /app/backend/
RUN DJANGO_SECRET_KEY=collectstatic-only DJANGO_STATIC_ROOT=/app/staticfiles \
    /opt/venv/bin/python manage.py collectstatic --noinput --verbosity 0

# The production proxy (docker-compose.prod.yml): Caddy with its Caddyfile and the static files
# it serves itself, so they always match the app image built with them.
FROM caddy:2-alpine AS proxy
COPY deploy/caddy/Caddyfile /etc/caddy/Caddyfile
COPY --from=static /app/staticfiles /srv/static

FROM python:${PYTHON_VERSION}-slim-bookworm AS runtime
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    DJANGO_SETTINGS_MODULE=config.settings
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --shell /usr/sbin/nologin app
COPY --from=builder /opt/venv /opt/venv
WORKDIR /app/backend
# Code stays owned by root: the app user can read it, not change it. Dev tooling (devstack/,
# tests/) lives outside backend/ and never reaches this image.
COPY backend/ /app/backend/
COPY --from=static /app/staticfiles /app/staticfiles
ENV DJANGO_STATIC_ROOT=/app/staticfiles
USER 10001:10001
EXPOSE 8000
# Exec form: the process is PID 1's direct child under `init: true` and receives SIGTERM itself.
CMD ["gunicorn", "--config=python:config.gunicorn", "config.wsgi"]
