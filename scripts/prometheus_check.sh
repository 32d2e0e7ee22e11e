#!/usr/bin/env bash
# Checks the monitoring configuration, as `make lint` runs it (pre-commit hook `prometheus`):
# Prometheus' config with the rule files it loads, the rules' promtool unit tests, and
# Alertmanager's config. Uses promtool and amtool from PATH, else the images that
# docker-compose.prod.yml runs, in Docker.
set -euo pipefail

# The images of docker-compose.prod.yml (tests/ops/test_prometheus_rules.py keeps them equal).
PROMETHEUS_IMAGE=prom/prometheus:v3.5.0
ALERTMANAGER_IMAGE=prom/alertmanager:v0.28.1

cd "$(dirname "$0")/../deploy/prometheus"
PROMETHEUS_DIR=$PWD
ALERTMANAGER_DIR=$(cd ../alertmanager && pwd)

# tool DIR IMAGE NAME ARGS...: NAME run in DIR, so that the paths in the config and the tests
# (rules/*.yml, ../rules/...) resolve alike on the host and in a container.
tool() {
  local dir=$1 image=$2 name=$3
  shift 3
  if command -v "$name" >/dev/null; then
    (cd "$dir" && "$name" "$@")
  elif command -v docker >/dev/null && docker info >/dev/null 2>&1; then
    docker run --rm --network none --user "$(id -u):$(id -g)" \
      --volume "$dir:/check:ro" --workdir /check --entrypoint "$name" "$image" "$@"
  else
    echo "prometheus_check: no $name and no Docker: install Debian's prometheus and" \
      "prometheus-alertmanager packages (they bring promtool and amtool), or Docker" >&2
    exit 1
  fi
}

# `check config` checks every rule file the config loads, too. A project generated without an
# app has neither its rules nor their test.
tool "$PROMETHEUS_DIR" "$PROMETHEUS_IMAGE" promtool check config prometheus.yml
shopt -s nullglob
tests=(tests/*.test.yml)
if ((${#tests[@]})); then
  tool "$PROMETHEUS_DIR" "$PROMETHEUS_IMAGE" promtool test rules "${tests[@]}"
fi
tool "$ALERTMANAGER_DIR" "$ALERTMANAGER_IMAGE" amtool check-config alertmanager.yml
