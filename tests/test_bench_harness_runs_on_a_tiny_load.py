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

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_harness_measures_every_phase_of_every_target(tmp_path: Path) -> None:
    if not (ROOT / "bench/node/node_modules/socket.io").exists():
        pytest.fail("bench/node is not installed: run `make test` (it runs npm ci there)")
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing (.ci/run installs it)")
    runs = []
    # Every target on one process; P also on two nodes over Redis (its own relay path there;
    # B's and N's are their libraries').
    for targets, tier in (("P,B,N", "local"), ("P", "two")):
        out = tmp_path / f"tiny-{tier}.json"
        done = subprocess.run([sys.executable, str(ROOT / "bench/run.py"), "--tiny", "--targets",
                               targets, "--tiers", tier, "--out", str(out)], cwd=ROOT,
                              timeout=240, capture_output=True, text=True)
        assert done.returncode == 0, done.stderr[-3000:]
        report = json.loads(out.read_text())
        runs += report["runs"]
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
        assert load["capacity_msgs_per_s"] in (0, 50, 100), what  # a rung of the tiny ladder
        assert 0 < fixed["latency_ms"]["p50"] <= fixed["latency_ms"]["max"] < 5000, what
        assert fixed["cpu_us_per_msg"] > 0, what
        churn = run["churn"]
        assert churn["failed"] == 0 and churn["done"] == churn["started"] > 0, what
    assert report["machine"]["python-socketio"] and report["widget"]
    assert report["runs"][0]["load"]["setup"]["compression"] in ("none", "permessage-deflate")


def test_harness_measures_p_before_and_after_a_commit(tmp_path: Path) -> None:
    """``--against REF`` runs P from this tree and from the tree of REF (here HEAD) in one run,
    and the report compares them."""
    if shutil.which("redis-server") is None:
        pytest.fail("redis-server is missing (.ci/run installs it)")
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
