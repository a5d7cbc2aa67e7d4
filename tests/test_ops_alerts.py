"""The alert rules load in Prometheus and fire on the series that should page; the dashboard
and the rules only use metrics the processes export."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from domain.ops.metrics import ops_metrics
from realtime.metrics import HubMetrics

OPS = Path(__file__).resolve().parent.parent / "ops"
RULES = OPS / "prometheus" / "alerts.yml"
ALERTS = {"ReadalongHubDown", "ReadalongWorkerStalled", "ReadalongQueueGrowing",
          "ReadalongErrorRate", "ReadalongLatencyBudget", "ReadalongSlowConsumerSpike",
          "ReadalongRedisReconnectStorm"}


def promtool() -> str:
    path = shutil.which("promtool") or ("/usr/bin/promtool"
                                        if Path("/usr/bin/promtool").exists() else None)
    if path is None:
        pytest.skip("promtool is not installed and `make promtool` could not install it "
                    "(needs apt-get and root: Debian's `prometheus` package ships it)")
    return path


def test_promtool_checks_the_rules() -> None:
    """`promtool check rules` accepts every alert rule."""
    out = subprocess.run([promtool(), "check", "rules", str(RULES)], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"SUCCESS: {len(ALERTS)} rules found" in out.stdout


def test_promtool_unit_tests_fire_the_alerts() -> None:
    """Hub down, worker stalled, reconnect storm and error rate fire on their series."""
    out = subprocess.run([promtool(), "test", "rules", "alerts_test.yml"], capture_output=True,
                         text=True, timeout=60, cwd=RULES.parent)
    assert out.returncode == 0, out.stdout + out.stderr


def exported_names() -> set[str]:
    names = {"up", "readalong_requests_total", "readalong_request_duration_seconds_bucket"}
    metrics = [*vars(ops_metrics()).values(), *vars(HubMetrics()).values()]
    for metric in metrics:
        base = metric._name
        kind = metric._type
        if kind == "counter":
            names.add(base + "_total")
        elif kind == "histogram":
            names.update({base + "_bucket", base + "_sum", base + "_count"})
        else:
            names.add(base)
    return names


def test_rules_and_dashboard_use_exported_metrics() -> None:
    """Every alert is there, and each series a rule or a panel queries is one we export."""
    text = RULES.read_text()
    assert set(re.findall(r"alert: (\w+)", text)) == ALERTS
    dashboard = json.loads((OPS / "grafana" / "readalong.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    assert len(exprs) >= 15
    used = set(re.findall(r"\b(readalong_\w+|up)\b", text + "\n".join(exprs)))
    assert used <= exported_names(), used - exported_names()
    readme = (OPS.parent / "README.md").read_text()
    for alert in ALERTS:
        assert f"`{alert}`" in readme  # its runbook line
