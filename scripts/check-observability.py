#!/usr/bin/env python3
"""Checks that deploy/observability/ speaks of the metrics the services export, and only those.

A misspelt metric name or label value in a rule or a panel is no error to Prometheus or
Grafana: the alert never fires, the panel stays empty. So every expression in rules.yml and
dashboard.json, and every series in rules.test.yml, is checked against METRICS below: metric
names (a histogram's _bucket, _sum and _count included), label names, and label values where
the label has a fixed set. The dashboard must also be valid JSON, choose its Prometheus through
the ${datasource} variable, and hold expressions promtool can parse. The alerts must be the
ones docs/operations.md has runbooks for, each linking its own.

Usage: check-observability.py DIR PROMTOOL (scripts/check-observability.sh runs it).
"""

import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

SOURCES = {"grafana", "alertmanager", "datadog", "netdata", "pagerduty", "splunk", "jenkins",
           "cloudbees", "dynatrace", "bigpanda"}
CONSUMER = {"stream": None, "consumer": None}
RCA = {"analyst": {"builtin", "llm"},
       "outcome": {"completed", "stopped", "waiting", "failed", "already_claimed"}}
# The notifier labels a delivery whose recorded target names no known kind `unknown`.
DESTINATIONS = {"slack", "pagerduty", "webhook", "unknown"}

# What the services export (issue 12): name -> (type, {label: allowed values or None for any}).
# Prometheus adds job and instance to every series.
METRICS = {
    "aurora_webhooks_received_total": ("counter", {"source": SOURCES}),
    "aurora_webhooks_accepted_total": ("counter", {"source": SOURCES}),
    "aurora_webhooks_refused_total": ("counter", {"source": SOURCES, "reason": {
        "unauthorized", "too_large", "too_many_alerts", "body_timeout", "too_many_failures",
        "unsupported_media_type", "bad_request", "rate_limited", "bus_unavailable",
        "auth_unavailable"}}),
    "aurora_alerts_accepted_total": ("counter", {"source": SOURCES}),
    "aurora_publish_duration_seconds": ("histogram", {}),
    "aurora_http_request_duration_seconds": ("histogram", {
        "service": None, "route": None, "method": None, "status": None}),
    "aurora_correlation_decisions_total": ("counter", {
        "outcome": {"deduplicated", "correlated", "opened", "resolved", "reopened", "counted",
                    "suppressed"},
        "strategy": {"service", "topology", "similarity", "time", "deployment", "none"}}),
    "aurora_incidents_opened_total": ("counter", {}),
    "aurora_incidents_resolved_total": ("counter", {}),
    "aurora_alerts_processed_total": ("counter", {"source": SOURCES, "outcome": {
        "opened", "correlated", "deduplicated", "suppressed", "resolved", "refired"}}),
    "aurora_consumer_pending": ("gauge", CONSUMER),
    "aurora_consumer_ack_pending": ("gauge", CONSUMER),
    "aurora_consumer_redelivered": ("gauge", CONSUMER),
    "aurora_dead_letters_total": ("counter", {"consumer": None}),
    "aurora_rca_analyses_total": ("counter", RCA),
    "aurora_rca_duration_seconds": ("histogram", RCA),
    "aurora_command_runs_total": ("counter", {"outcome": {"ok", "failed", "timed_out", "refused"}}),
    "aurora_db_pool_waiting": ("gauge", {"pool": None}),
    "aurora_db_pool_connections": ("gauge", {"pool": None, "state": {"idle", "in_use"}}),
    "aurora_notifier_deliveries_total": ("counter", {"destination": DESTINATIONS, "outcome": {
        "delivered", "retried", "failed", "skipped", "unsettled"}}),
    "aurora_notifier_delivery_duration_seconds": ("histogram", {"destination": DESTINATIONS}),
}
ALERTS = {"AuroraIngressRefusing", "AuroraIngressBusUnavailable", "AuroraConsumerLagGrowing",
          "AuroraDeadLetters", "AuroraRcaErrors", "AuroraSourceSilent",
          "AuroraDatabaseUnreachable", "AuroraNotificationsFailing"}
SEVERITIES = {"critical", "warning", "info"}

IDENT = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
KEYWORDS = {"and", "or", "unless", "offset", "bool", "by", "without", "on", "ignoring",
            "group_left", "group_right", "inf", "nan", "atan2"}
MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"([^"]*)"\s*,?')


def series_labels(name):
    """The labels a series of this name may carry, or None for a name not exported."""
    for suffix in ("", "_bucket", "_sum", "_count"):
        base = name[: len(name) - len(suffix)] if suffix else name
        if name.endswith(suffix) and base in METRICS:
            kind, labels = METRICS[base]
            if suffix and kind != "histogram":
                continue
            extra = {"job": None, "instance": None}
            if suffix == "_bucket":
                extra["le"] = None
            return {**labels, **extra}
    return None


def check_matchers(where, name, matchers, errors):
    labels = series_labels(name)
    if labels is None:
        return
    rest = MATCHER.sub("", matchers).strip()
    if rest:
        errors.append(f"{where}: cannot read the matchers {{{matchers}}}")
    for label, op, value in MATCHER.findall(matchers):
        if label not in labels:
            errors.append(f"{where}: {name} has no label {label}")
            continue
        allowed = labels[label]
        if allowed is None:
            continue
        if op in ("=", "!="):
            values = [value]
        elif re.fullmatch(r"[a-z_|]+", value):
            values = value.split("|")
        else:
            continue  # a regex beyond alternatives: not checked
        for v in values:
            if v not in allowed:
                errors.append(f"{where}: {name}{{{label}}} is never {v!r} "
                              f"(one of {', '.join(sorted(allowed))})")


def check_expr(where, expr, known_records, errors):
    """Every metric an expression names is exported (or recorded here), with real labels."""
    expr = re.sub(r"\$\{?__\w+\}?", "5m", expr)  # Grafana's $__rate_interval and the like
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges and subqueries
    for name, matchers in re.findall(rf"({IDENT})?\s*\{{([^}}]*)\}}", expr):
        if not name:
            errors.append(f"{where}: a selector without a metric name: {{{matchers}}}")
        check_matchers(where, name, matchers, errors)
    expr = re.sub(r"\{[^}]*\}", "", expr)
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    expr = re.sub(r'"[^"]*"', "", expr)
    for m in re.finditer(rf"(?<![0-9a-zA-Z_:.])({IDENT})(?![a-zA-Z0-9_:]|\s*\()", expr):
        name = m.group(1)
        if name in KEYWORDS or name in known_records:
            continue
        if series_labels(name) is None:
            errors.append(f"{where}: {name} is not a metric the services export")


def slug(heading):
    """GitHub's anchor for a Markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def check_rules(path, docs, errors):
    groups = yaml.safe_load(path.read_text())["groups"]
    rules = [r for g in groups for r in g["rules"]]
    records = {r["record"] for r in rules if "record" in r}
    alerts = {}
    for r in rules:
        name = r.get("record") or r.get("alert")
        check_expr(f"{path.name} {name}", r["expr"], records, errors)
        if "alert" in r:
            alerts[name] = r
    if set(alerts) != ALERTS:
        errors.append(f"{path.name}: alerts {sorted(alerts)}, expected {sorted(ALERTS)}")
    anchors = None
    if docs.exists():
        text = docs.read_text()
        anchors = {slug(h) for h in re.findall(r"^#+\s+(.+)$", text, re.M)}
        anchors |= set(re.findall(r'id="([^"]+)"', text))
    else:
        print(f"check-observability: {docs} is missing, so runbook anchors are not checked")
    for name, r in alerts.items():
        if r.get("labels", {}).get("severity") not in SEVERITIES:
            errors.append(f"{path.name} {name}: severity must be one of {sorted(SEVERITIES)}")
        notes = r.get("annotations", {})
        for key in ("summary", "description"):
            if not notes.get(key):
                errors.append(f"{path.name} {name}: no {key} annotation")
        want = f"docs/operations.md#{name.lower()}"
        if notes.get("runbook_url") != want:
            errors.append(f"{path.name} {name}: runbook_url must be {want}")
        if anchors is not None and name.lower() not in anchors:
            errors.append(f"{docs}: no section {name} (the runbook of the alert)")
    return records


def check_tests(path, errors):
    for test in yaml.safe_load(path.read_text())["tests"]:
        for s in test.get("input_series", []):
            m = re.fullmatch(rf"({IDENT})\{{(.*)\}}", s["series"].strip())
            if not m or series_labels(m.group(1)) is None:
                errors.append(f"{path.name}: {s['series']} is not a series the services export")
                continue
            check_matchers(f"{path.name} {test.get('name', '')}", m.group(1), m.group(2), errors)


def panels_of(panels):
    for p in panels:
        yield p
        yield from panels_of(p.get("panels", []))


def check_dashboard(path, promtool, errors):
    try:
        dash = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        errors.append(f"{path.name}: not valid JSON: {e}")
        return
    variables = dash.get("templating", {}).get("list", [])
    if not any(v.get("name") == "datasource" and v.get("type") == "datasource"
               and v.get("query") == "prometheus" for v in variables):
        errors.append(f"{path.name}: no datasource variable choosing a Prometheus")
    exprs = []
    for p in panels_of(dash.get("panels", [])):
        if p.get("type") == "row":
            continue
        where = f"{path.name} panel {p.get('title')!r}"
        for ds in [p.get("datasource")] + [t.get("datasource") for t in p.get("targets", [])]:
            if ds is not None and ds.get("uid") != "${datasource}":
                errors.append(f"{where}: datasource {ds} is not ${{datasource}}")
        if not p.get("targets"):
            errors.append(f"{where}: no query")
        for t in p.get("targets", []):
            if not t.get("expr"):
                errors.append(f"{where}: a query without an expression")
                continue
            check_expr(where, t["expr"], set(), errors)
            exprs.append((where, t["expr"]))
    # promtool parses what it checks: each expression as a recording rule.
    rules = {"groups": [{"name": "dashboard", "rules": [
        {"record": f"dashboard:expr{i}", "expr": re.sub(r"\$\{?__\w+\}?", "5m", e)}
        for i, (_, e) in enumerate(exprs)]}]}
    with tempfile.NamedTemporaryFile("w", suffix=".yml") as f:
        yaml.safe_dump(rules, f)
        f.flush()
        run = subprocess.run([promtool, "check", "rules", f.name], capture_output=True, text=True)
    if run.returncode != 0:
        errors.append(f"{path.name}: promtool cannot parse every expression:\n{run.stdout}{run.stderr}")
    print(f"check-observability: {path.name}: {len(exprs)} expressions checked")


def main():
    root, promtool = Path(sys.argv[1]), sys.argv[2]
    errors = []
    check_rules(root / "rules.yml", root.parent.parent / "docs" / "operations.md", errors)
    check_tests(root / "rules.test.yml", errors)
    check_dashboard(root / "dashboard.json", promtool, errors)
    for e in errors:
        print(f"check-observability: {e}", file=sys.stderr)
    sys.exit(1 if errors else 0)


if __name__ == "__main__":
    main()
