"""The Prometheus alert rules and scrape configuration (deploy/prometheus), the Grafana dashboard
(deploy/grafana) and the runbook sections the alerts link to (docs/operations.md).

promtool is the real one (Debian's `prometheus` package): it checks the rules and the
configuration and runs the rules' unit tests (alerts_test.yml). Debian builds Prometheus without
Kubernetes service discovery, so the configuration it checks has each job's Kubernetes discovery
replaced by a file discovery; the Kubernetes part is checked here, field by field.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from reelflow.settings import PROJECT_ROOT

PROMETHEUS = PROJECT_ROOT / "deploy" / "prometheus"
ALERTS = PROMETHEUS / "alerts.yml"
ALERTS_TEST = PROMETHEUS / "alerts_test.yml"
CONFIG = PROMETHEUS / "prometheus.yml"
DASHBOARD = PROJECT_ROOT / "deploy" / "grafana" / "reelflow.json"
RUNBOOK = PROJECT_ROOT / "docs" / "operations.md"
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"

# The metrics the API and the pipeline exporter expose under these names (and Prometheus's own
# `up`); a histogram is read through its series.
HISTOGRAMS = {"reelflow_http_request_duration_seconds"}
SHARED_METRICS = {
    "reelflow_http_requests_total",
    "reelflow_cache_requests_total",
    "reelflow_rate_limit_refusals_total",
    "reelflow_videos",
    "reelflow_video_processing_oldest_seconds",
    "reelflow_upload_to_ready_seconds",
    "reelflow_encode_speed_realtime",
    "reelflow_media_queue_messages",
    "reelflow_dagster_runs_failed",
    "reelflow_engagement_last_day_timestamp_seconds",
    "reelflow_model_age_seconds",
    "reelflow_model_info",
    "up",
} | {f"{name}{suffix}" for name in HISTOGRAMS for suffix in ("_bucket", "_sum", "_count")}
JOBS = {"reelflow-api", "reelflow-pipeline"}
SEVERITIES = {"critical", "warning"}

PROMQL_KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
}


def promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROMTOOL, *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(ALERTS.read_text())["groups"]
    return [rule for group in groups for rule in group["rules"]]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects: its identifiers that are neither functions,
    keywords, label names (in matchers and in grouping clauses) nor inside strings."""
    text = re.sub(r'"(?:\\.|[^"\\])*"', '""', expr)
    text = re.sub(r"\{[^}]*\}", " ", text)
    text = re.sub(r"\[[^\]]*\]", " ", text)
    text = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", text)
    names = set()
    for match in re.finditer(r"(?<![\w:.])([A-Za-z_:][\w:]*)(\s*\()?", text):
        name, call = match.groups()
        if call is None and name.lower() not in PROMQL_KEYWORDS:
            names.add(name)
    return names


def dashboard_exprs() -> Iterator[tuple[str, str]]:
    dashboard = json.loads(DASHBOARD.read_text())
    for panel in dashboard["panels"]:
        for target in panel["targets"]:
            yield panel["title"], target["expr"]


def github_anchors(markdown: str) -> set[str]:
    """The anchors GitHub gives the headings of a Markdown document."""
    anchors = set()
    for line in markdown.splitlines():
        heading = re.match(r"#{1,6}\s+(.*?)\s*#*\s*$", line)
        if heading:
            text = re.sub(r"[^\w\- ]", "", heading.group(1).strip().lower())
            anchors.add(text.replace(" ", "-"))
    return anchors


def test_metric_names_are_read_from_expressions() -> None:
    expr = (
        'histogram_quantile(0.99, sum by (le, route) (rate(a_bucket{job="x", le=~"1|2"}[5m])))'
        ' / on (route) group_left b_total offset 5m > 1e3 and absent(up{job="y"} == 1)'
        " or time() - c_seconds"
    )
    assert metric_names(expr) == {"a_bucket", "b_total", "up", "c_seconds"}


def test_promtool_accepts_the_rules() -> None:
    checked = promtool("check", "rules", ALERTS.name, cwd=PROMETHEUS)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_rules())} rules found" in checked.stdout


def test_each_alert_fires_on_its_synthetic_series_and_not_under_its_threshold() -> None:
    tested = promtool("test", "rules", ALERTS_TEST.name, cwd=PROMETHEUS)
    assert tested.returncode == 0, tested.stdout + tested.stderr

    cases = [
        case
        for test in yaml.safe_load(ALERTS_TEST.read_text())["tests"]
        for case in test["alert_rule_test"]
    ]
    fired = {case["alertname"] for case in cases if case["exp_alerts"]}
    quiet = {case["alertname"] for case in cases if not case["exp_alerts"]}
    alerts = {rule["alert"] for rule in alert_rules()}
    assert fired == alerts
    assert quiet, "no test expects an alert to stay quiet"


def test_rules_select_only_the_shared_metrics() -> None:
    for rule in alert_rules():
        unknown = metric_names(rule["expr"]) - SHARED_METRICS
        assert not unknown, f"{rule['alert']} reads {unknown}"


def test_every_alert_has_a_severity_and_links_its_runbook_section() -> None:
    for rule in alert_rules():
        name = rule["alert"]
        assert rule["labels"]["severity"] in SEVERITIES, name
        annotations = rule["annotations"]
        assert annotations["summary"] and annotations["description"], name
        assert annotations["runbook"] == f"docs/operations.md#{name.lower()}"


def test_every_alert_has_a_section_in_the_runbook() -> None:
    anchors = github_anchors(RUNBOOK.read_text())

    missing = {rule["alert"] for rule in alert_rules() if rule["alert"].lower() not in anchors}
    assert not missing, f"docs/operations.md has no section for {sorted(missing)}"


def test_promtool_accepts_the_scrape_configuration(tmp_path: Path) -> None:
    config = yaml.safe_load(CONFIG.read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    assert set(jobs) == JOBS
    for job in jobs.values():
        [discovery] = job.pop("kubernetes_sd_configs")
        assert discovery["role"] in {"pod", "endpoints"}
        assert discovery["namespaces"] == {"names": ["reelflow"]}
        # What promtool here can check in its place; the relabelling is checked as it is.
        job["file_sd_configs"] = [{"files": ["targets.json"]}]
    assert config["rule_files"] == [ALERTS.name]
    shutil.copy(ALERTS, tmp_path / ALERTS.name)
    (tmp_path / CONFIG.name).write_text(yaml.safe_dump(config))

    checked = promtool("check", "config", CONFIG.name, cwd=tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout


def test_the_dashboard_reads_every_shared_metric_and_nothing_else() -> None:
    read: set[str] = set()
    for title, expr in dashboard_exprs():
        names = metric_names(expr)
        assert names, f"panel {title!r} reads no metric"
        assert names <= SHARED_METRICS, f"panel {title!r} reads {names - SHARED_METRICS}"
        read |= names

    assert read >= SHARED_METRICS - {"up"} - {f"{h}_sum" for h in HISTOGRAMS} - {
        f"{h}_count" for h in HISTOGRAMS
    }


def test_promtool_parses_every_dashboard_expression(tmp_path: Path) -> None:
    rules = [
        {"record": f"reelflow:dashboard_panel_{n}", "expr": expr}
        for n, (_, expr) in enumerate(dashboard_exprs())
    ]
    (tmp_path / "dashboard.yml").write_text(
        yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]})
    )

    checked = promtool("check", "rules", "dashboard.yml", cwd=tmp_path)

    assert checked.returncode == 0, checked.stdout + checked.stderr
