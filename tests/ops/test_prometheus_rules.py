"""The alert rules of deploy/prometheus, read as YAML (promtool runs them in `make lint`, through
scripts/prometheus_check.sh): each alert has a test that fires it and one that keeps it silent,
says how bad, why and what to run, and reads only series the backend exposes."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.scratch import REPO_DIR

PROMETHEUS = REPO_DIR / "deploy" / "prometheus"
RULE_FILES = sorted((PROMETHEUS / "rules").glob("*.yml"))

# The core's series (backend/ops/metrics), as Prometheus names them. An app's own are listed in
# its rules' test file (`# metrics:` and `# histograms:` lines), which leaves a project generated
# without the app together with its rules: this file names no app.
CORE_METRICS = frozenset(
    {
        "web_requests_total",
        "celery_queue_length",
        "celery_queue_oldest_age_seconds",
        "celery_worker_up",
        "celery_beat_heartbeat_age_seconds",
        "ops_dependency_up",
        "celery_tasks_total",
    }
)
CORE_HISTOGRAMS = frozenset({"web_request_duration_seconds", "celery_task_runtime_seconds"})
# What Prometheus records for every target itself.
SCRAPE_METRICS = frozenset({"up"})
HISTOGRAM_SERIES = ("_bucket", "_sum", "_count")
SEVERITIES = {"critical", "warning", "info"}

# What in PromQL is not a metric name: strings and label matchers, ranges, grouping label lists,
# and the words of the language.
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
MATCHERS = re.compile(r"\{[^}]*\}")
RANGE = re.compile(r"\[[^\]]*\]")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)")
KEYWORDS = frozenset({"and", "or", "unless", "bool", "offset", "inf", "nan", "group_left"})
# A name not preceded by a digit (5m, 1e3) and not followed by "(" (a function or aggregation).
NAME = re.compile(r"(?<![\w.])([A-Za-z_:][\w:]*)(?!\w|\s*\()")


def metric_names(expr: str) -> set[str]:
    stripped = STRING.sub(" ", expr)
    for pattern in (MATCHERS, RANGE, GROUPING):
        stripped = pattern.sub(" ", stripped)
    return {name for name in NAME.findall(stripped) if name.lower() not in KEYWORDS}


def test_metric_names_are_read_from_an_expression():
    expr = (
        'max by (queue) (a_total{view="b:c", le="0.5"} offset 5m) > 1e3 and on (queue)'
        ' histogram_quantile(0.9, sum by (le) (rate(d_bucket{x=~"y|z"}[5m]))) or vector(1)'
    )
    assert metric_names(expr) == {"a_total", "d_bucket"}


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def rule_tests(rules: Path) -> Path:
    return PROMETHEUS / "tests" / f"{rules.stem}.test.yml"


ALERTS = [
    pytest.param(path, rule, id=":".join([path.stem, rule["alert"], *rule["labels"].values()]))
    for path in RULE_FILES
    for group in load(path)["groups"]
    for rule in group["rules"]
    if "alert" in rule
]


def test_every_rule_file_has_its_own_test_file_and_nothing_else_has_one():
    assert PROMETHEUS / "rules" / "core.yml" in RULE_FILES
    expected = {rule_tests(path) for path in RULE_FILES}
    assert set((PROMETHEUS / "tests").glob("*.test.yml")) == expected
    for path in RULE_FILES:
        assert load(rule_tests(path))["rule_files"] == [f"../rules/{path.name}"], path.name


@pytest.mark.parametrize(("path", "rule"), ALERTS)
def test_every_alert_has_a_test_that_fires_it_and_one_that_keeps_it_silent(path, rule):
    cases = [
        case
        for group in load(rule_tests(path))["tests"]
        for case in group.get("alert_rule_test", [])
        if case["alertname"] == rule["alert"]
    ]
    # An alert of several rules (one per queue class, say) is fired once for each: the expected
    # alert carries the rule's own labels.
    fired = [alert["exp_labels"] for case in cases for alert in case.get("exp_alerts") or []]

    assert any(rule["labels"].items() <= labels.items() for labels in fired), "never fires"
    assert any(not case.get("exp_alerts") for case in cases), "never shown silent"


@pytest.mark.parametrize(("path", "rule"), ALERTS)
def test_every_alert_says_how_bad_why_and_what_to_run(path, rule):
    assert "for" in rule
    assert rule["labels"]["severity"] in SEVERITIES
    for annotation in ("summary", "description", "runbook"):
        assert rule["annotations"].get(annotation, "").strip(), annotation


def app_metrics(path: Path) -> tuple[set[str], set[str]]:
    """The metrics and histograms a test file's `# metrics:` and `# histograms:` lines list."""
    found: dict[str, set[str]] = {"metrics": set(), "histograms": set()}
    for line in rule_tests(path).read_text().splitlines():
        match = re.fullmatch(r"# (metrics|histograms): (.+)", line)
        if match:
            found[match[1]].update(match[2].split())
    return found["metrics"], found["histograms"]


@pytest.mark.parametrize(("path", "rule"), ALERTS)
def test_every_alert_reads_only_series_the_backend_exposes(path, rule):
    metrics, histograms = app_metrics(path)
    metrics |= CORE_METRICS | SCRAPE_METRICS
    histograms |= CORE_HISTOGRAMS
    histogram_series = {name + suffix for name in histograms for suffix in HISTOGRAM_SERIES}

    used = metric_names(rule["expr"])

    assert used
    assert not used - metrics - histogram_series, "not a metric the backend exposes"


def test_the_check_script_runs_the_images_production_runs():
    script = (REPO_DIR / "scripts" / "prometheus_check.sh").read_text()
    services = load(REPO_DIR / "docker-compose.prod.yml")["services"]
    for service in ("prometheus", "alertmanager"):
        image = re.search(rf"^{service.upper()}_IMAGE=(\S+)$", script, flags=re.MULTILINE)
        assert image, service
        assert image[1] == services[service]["image"], service
