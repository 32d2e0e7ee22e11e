# Everything a developer runs, from one place. `make` alone lists the targets.
SHELL := bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
COMPOSE ?= docker compose
# The production stack: the base file and docker-compose.prod.yml (docs/deployment.md).
PROD_COMPOSE ?= $(COMPOSE) -f docker-compose.yml -f docker-compose.prod.yml
# The app services, stopped while a backup is restored.
APP_SERVICES := web worker-io worker-cpu beat
MANAGE := $(BIN)/python backend/manage.py
# Make variables rather than shell defaults, so the commands make prints show the values used:
# where the demo finds web (make run and the dev override publish it on 127.0.0.1:WEB_PORT).
# The test database's URL (TEST_DATABASE_URL) is read by tests/bootstrap.py instead, so that its
# password never appears in a printed command.
WEB_PORT ?= 8000
DEMO_BASE_URL ?= http://127.0.0.1:$(WEB_PORT)

.PHONY: help install env env-example up down logs ps backup backups restore test test-postgres test-rabbitmq chaos test-compose lint run doctor shell migrate demo bench systemd-units kubernetes-manifests lock clean

help: ## List the targets
	@# Two passes over the Makefile: the widest name sets the column, so every description lines up.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {n[++c] = $$1; d[c] = $$2; if (length($$1) > w) w = length($$1)} \
	  END {for (i = 1; i <= c; i++) printf "  \033[36m%-*s\033[0m  %s\n", w, n[i], d[i]}' $(MAKEFILE_LIST)

$(STAMP): requirements/dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --disable-pip-version-check --quiet --require-hashes -r requirements/dev.lock
	@# backend/ and the repository root on sys.path, so pytest, mypy and scripts find the code.
	@printf '%s\n%s\n' "$(CURDIR)/backend" "$(CURDIR)" > "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/django_celery_template.pth"
	@touch $(STAMP)

install: $(STAMP) ## Create .venv from the lock (needs only python3 and the package index)

env: ## Write a .env with generated secrets (keeps an existing one)
	@if [ -f .env ]; then echo ".env exists; not overwriting it."; else \
	  $(PYTHON) scripts/make_env.py > .env && echo "Wrote .env with generated secrets."; fi

env-example: ## Write .env.example's apps' part from each app's backend/<app>/env.example
	$(PYTHON) scripts/make_env.py --example

up: ## docker compose up (the whole system, with the dev override; writes .env first if missing)
	@[ -f .env ] || $(MAKE) --no-print-directory env
	$(COMPOSE) up --build

down: ## docker compose down
	$(COMPOSE) down

logs: ## Follow the logs of every service
	$(COMPOSE) logs -f --tail=100

ps: ## Show services and their health
	$(COMPOSE) ps

backup: ## Production stack: a database dump now, into the backups volume
	$(PROD_COMPOSE) exec -T backup /opt/backup/backup.sh once

backups: ## Production stack: list the dumps in the backups volume
	$(PROD_COMPOSE) exec -T backup ls -l /backups

restore: ## Production stack: restore BACKUP=<name> (stops the app services meanwhile)
	@[ -n "$(BACKUP)" ] || { echo "usage: make restore BACKUP=<name>  (make backups lists them)"; exit 2; }
	$(PROD_COMPOSE) stop $(APP_SERVICES)
	@# One transaction: a failed restore leaves the database as it was, and the services restart.
	$(PROD_COMPOSE) exec -T backup /opt/backup/restore.sh "$(BACKUP)" \
	  || { $(PROD_COMPOSE) start $(APP_SERVICES); exit 1; }
	$(PROD_COMPOSE) start $(APP_SERVICES)

# The suite on TEST_PROCESSES processes (pytest-xdist), a test file each at a time: each process
# starts its own Redis and workers (tests/stack.py), so two fit two cores; 1 runs it serially.
TEST_PROCESSES ?= 2
PYTEST_PARALLEL = $(if $(filter 1,$(TEST_PROCESSES)),,-n $(TEST_PROCESSES) --dist loadfile)

test: $(STAMP) ## The whole test suite: starts its own Redis and workers; SQLite (about 6 min)
	$(BIN)/pytest $(PYTEST_PARALLEL)

test-postgres: $(STAMP) ## The suite again on PostgreSQL: TEST_DATABASE_URL, default local trust auth (about 6 min)
	TEST_POSTGRES=1 $(BIN)/pytest $(PYTEST_PARALLEL)

# The routing and real-worker tests again, with the machine's RabbitMQ (127.0.0.1:5672, guest) as
# the broker, in a virtual host of their own (docs/rabbitmq.md); TEST_BROKER_URL names another.
test-rabbitmq: $(STAMP) ## The routing and worker tests with the local RabbitMQ as the broker (about 3 min)
	TEST_BROKER=amqp $(BIN)/pytest tests/test_workers.py tests/config/test_routing.py tests/ops/test_health.py tests/ops/test_metrics.py -v --durations=5

# Without TEST_DATABASE_URL the tests start a PostgreSQL of their own (tests/bootstrap.py), which
# they may restart.
chaos: $(STAMP) ## Fault tests: kills, outages, bursts; exact counts and recovery times; PostgreSQL (about 8 min)
	FAULT_TESTS=1 $(BIN)/pytest -m faults -n 2 --dist loadfile --timeout=900 -v --durations=0

test-compose: $(STAMP) ## The stack on a real Docker Engine: both compose setups, stops, scaling, faults (about 10 min)
	COMPOSE_TESTS=1 $(BIN)/pytest tests/compose $(wildcard tests/*/compose) --timeout=1800 -v --durations=0

# >>> template only (scripts/new_project.py leaves this out of generated projects)
# Every mode of the Copier template generated into a scratch folder, each running its own
# `make test`; the full and the example-free project also `make test-compose`
# (docs/new-project.md). Two lanes at once (the example-free project, whatsapp, football_data;
# the full project); the container tests take turns. Needs git, and Docker for the
# compose part.
.PHONY: test-generator
test-generator: $(STAMP) ## Generate a project in every mode; each runs its own tests (about 15 min)
	GENERATOR_TESTS=1 $(BIN)/pytest tests/generator/test_modes.py -n 2 --timeout=3600 -v --durations=0
# <<< template only

lint: $(STAMP) ## ruff, mypy, import contracts, hadolint, compose schema, pip-audit, secret scan (pre-commit)
	$(BIN)/pre-commit run --all-files

run: $(STAMP) ## The whole system without Docker: web, worker-io, worker-cpu, beat (Ctrl-C stops)
	@[ -f .env ] || $(MAKE) --no-print-directory env
	$(BIN)/python -m devstack

doctor: $(STAMP) ## Check configuration and the running system, with hints (inside web under docker compose)
	@if $(COMPOSE) ps --status running -q web 2>/dev/null | grep -q .; then \
	  $(COMPOSE) exec web python manage.py doctor; else $(MANAGE) doctor; fi

shell: $(STAMP) ## Django shell
	$(MANAGE) shell

migrate: $(STAMP) ## Apply database migrations
	$(MANAGE) migrate

# bench/report.py skips the benchmarks of a removed example app by itself.
bench: $(STAMP) ## Every benchmark in one run, each group's figures written into its doc (about 30 min)
	$(BIN)/python bench/report.py $(if $(BENCH_DATABASE_URL),--database-url $(BENCH_DATABASE_URL))

demo: $(STAMP) ## Each app's demo (devstack/demos/<app>.py) through the running stack (make run / up)
	$(BIN)/python -m devstack.demo --base-url=$(DEMO_BASE_URL)

systemd-units: $(STAMP) ## Regenerate deploy/systemd/ from docker-compose.yml and the topology
	@# Importing the topology loads the settings; none of their values reach the units.
	DJANGO_DEBUG=1 DOTENV_DISABLED=1 $(BIN)/python -m devstack.systemd $(ARGS)

kubernetes-manifests: $(STAMP) ## Regenerate deploy/kubernetes/ (a sketch) from docker-compose.yml and the topology
	@# Importing the topology loads the settings; none of their values reach the manifests.
	DJANGO_DEBUG=1 DOTENV_DISABLED=1 $(BIN)/python -m devstack.kubernetes $(ARGS)

# --no-strip-extras: a dependency asked for with an extra (pip-audit's CacheControl[filecache]) is
# pinned with it, or pip's hash-checking mode refuses it once a newer release exists.
lock: ## Re-resolve requirements/*.lock from pyproject.toml (needs uv)
	uv pip compile pyproject.toml --generate-hashes --universal --no-strip-extras --python-version 3.11 -o requirements/base.lock
	uv pip compile pyproject.toml --extra dev --generate-hashes --universal --no-strip-extras --python-version 3.11 -o requirements/dev.lock

clean: ## Remove the virtualenv and local state
	rm -rf $(VENV) var db.sqlite3* .test-db.sqlite3*
