"""The benchmark harness itself, on a tiny load: every phase runs against P (this server),
B (bare python-socketio) and N (Node socket.io) and yields sane, complete figures.

This checks the harness, not performance: performance is measured by ``make bench`` and
written to docs/benchmarks.md.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.support.paths import ROOT

# The tiny profile's ladder: the fixed load, then one step (bench/run.py).
TINY_LADDER = (50, 100)


def tiny_run(targets: str, tier: str, out: Path) -> dict[str, Any]:
    """The report of ``bench/run.py --tiny`` for ``targets`` in ``tier``."""
    done = subprocess.run([sys.executable, str(ROOT / "bench/run.py"), "--tiny", "--targets",
                           targets, "--tiers", tier, "--out", str(out)], cwd=ROOT,
                          timeout=240, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    report: dict[str, Any] = json.loads(out.read_text())
    return report


def capacity_by_the_rule(load: dict[str, Any]) -> int:
    """Capacity as docs/benchmarks.md defines it, worked out again from the rungs the run
    reports: the highest rate with p99 within 100 ms and loss within 0.1 %, and every lower."""
    capacity = 0
    for rung in [load["fixed"], *load["steps"]]:
        p99 = rung["latency_ms"]["p99"]
        if p99 is None or p99 > 100 or rung["loss"] > 0.001:
            break
        capacity = rung["rate"]
    return int(capacity)


def tiny_reports(tmp_path: Path) -> list[dict[str, Any]]:
    """Every target on one process; P also on two nodes over Redis (its own relay path there;
    B's and N's are their libraries')."""
    if not (ROOT / "bench/node/node_modules/socket.io").exists():
        pytest.fail("bench/node is not installed: run `make test` (it runs npm ci there)")
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing (make test installs it)")
    return [tiny_run(targets, tier, tmp_path / f"tiny-{tier}.json")
            for targets, tier in (("P,B,N", "local"), ("P", "two"))]


def test_harness_measures_every_phase_of_every_target(tmp_path: Path) -> None:
    reports = tiny_reports(tmp_path)
    runs = [run for report in reports for run in report["runs"]]
    seen = {(run["target"], run["tier"]) for run in runs}
    assert seen == {("P", "local"), ("B", "local"), ("N", "local"), ("P", "two")}
    for run in runs:
        what = f"{run['target']}/{run['tier']}"
        idle = run["idle"][-1]
        assert idle["connections"] == 20 and idle["failed"] == 0, what
        assert idle["rss_per_conn_kb"] > 0 and idle["connects_per_s"] > 0, what
        load = run["load"]
        assert load["setup"]["pairs"] == 8 and load["setup"]["failed"] == 0, what
        fixed = load["fixed"]
        assert fixed["sent"] > 0 and fixed["received"] == fixed["sent"], what  # tiny: no loss
        assert fixed["refused"] == 0 and fixed["refused_codes"] == {}, what
        assert 0 < fixed["latency_ms"]["p50"] <= fixed["latency_ms"]["max"] < 5000, what
        # Capacity is what the documented rule makes of the rungs, and "reached" below the top.
        capacity = load["capacity_msgs_per_s"]
        assert capacity == capacity_by_the_rule(load), (what, capacity, load["steps"])
        assert load["capacity_reached"] is (capacity < TINY_LADDER[-1]), what
        assert fixed["cpu_us_per_msg"] > 0, what
        churn = run["churn"]
        assert churn["failed"] == 0 and churn["done"] == churn["started"] > 0, what
        if run["target"] == "P":  # P declines permessage-deflate (test_websocket_compression_…)
            assert load["setup"]["compression"] == "none", what
    assert all(report["machine"]["python-socketio"] and report["widget"] for report in reports)


# A latency bound, so a measurement (like the flood's): on a 2-core machine shared with other
# work, the fixed rung's p99 over some 25 messages is their maximum, and one scheduling hiccup
# of 100 ms costs it. `make soak` runs it, `make test` does not.
@pytest.mark.soak
def test_a_tiny_load_is_carried_by_every_target(tmp_path: Path) -> None:
    for report in tiny_reports(tmp_path):
        for run in report["runs"]:
            load = run["load"]
            assert load["capacity_msgs_per_s"] in TINY_LADDER, \
                (run["target"], run["tier"], load["fixed"]["latency_ms"])


def test_harness_measures_p_before_and_after_a_commit(tmp_path: Path) -> None:
    """``--against REF`` runs P from this tree and from the tree of REF (here HEAD) in one run,
    and the report compares them."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing (make test installs it)")
    out = tmp_path / "against.json"
    done = subprocess.run([sys.executable, str(ROOT / "bench/run.py"), "--against", "HEAD",
                           "--tiny", "--out", str(out)], cwd=ROOT, timeout=240,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(out.read_text())
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True,
                          text=True, check=True).stdout.strip()
    assert report["against"]["commit"] == head
    assert report["against"]["current"].startswith(head)
    assert 0 < report["against"]["busy_pct"] <= 100
    assert [(run["target"], run["tier"]) for run in report["runs"]] == [("P", "redis"),
                                                                      ("R", "redis")]
    for run in report["runs"]:
        fixed = run["load"]["fixed"]
        assert fixed["sent"] > 0 and fixed["received"] == fixed["sent"], run["target"]
        assert fixed["cpu_us_per_msg"] > 0 and fixed["redis_cpu_pct"] >= 0, run["target"]
    assert "| server CPU per relayed message at the fixed load (µs) |" in done.stdout
