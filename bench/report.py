"""Turn a benchmark run (bench/run.py's JSON) into the Markdown tables of docs/benchmarks.md."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path
from statistics import mean, median
from typing import Any

START = "<!-- results:start -->"
END = "<!-- results:end -->"
AGAINST_START = "<!-- against:start -->"
AGAINST_END = "<!-- against:end -->"
TIER_NAMES = {"local": "one process, no Redis", "redis": "one process with Redis",
              "two": "two processes over Redis (visitor on one, counsellor on the other)"}

# (label, how to read it from one run, lower is better)
Metric = tuple[str, Callable[[dict[str, Any]], float | None], bool]


def _idle(level: int, key: str) -> Callable[[dict[str, Any]], float | None]:
    def read(run: dict[str, Any]) -> float | None:
        for row in run["idle"]:
            if row["connections"] >= level * 0.99 and row["connections"] <= level:
                return float(row[key])
        return None
    return read


def metrics(report: dict[str, Any]) -> list[Metric]:
    levels = sorted({row["connections"] for run in report["runs"] for row in run["idle"]})
    levels = [lvl for lvl in (1000, 5000, 10000, 500, 20) if any(
        abs(x - lvl) <= lvl * 0.01 for x in levels)] or levels[:3]
    out: list[Metric] = []
    for level in sorted(levels):
        out.append((f"RSS per idle connection at {level:,} (KB)", _idle(level, "rss_per_conn_kb"),
                    True))
    top = max(levels) if levels else 0
    out += [
        (f"idle CPU at {top:,} connections (%)", _idle(top, "idle_cpu_pct"), True),
        (f"connect rate, first {top:,} (connections/s)", _idle(top, "connects_per_s"), False),
        ("fixed load: rate (messages/s)", lambda r: r["load"]["fixed"]["rate"], False),
        ("fixed load: setting up its chats (s)", lambda r: r["load"]["setup"]["setup_s"], True),
        ("fixed load: server CPU (% of one core)",
         lambda r: r["load"]["fixed"]["server_cpu_pct"], True),
        ("fixed load: server CPU per relayed message (µs)",
         lambda r: r["load"]["fixed"]["cpu_us_per_msg"], True),
        ("fixed load: same, Redis included (µs)",
         lambda r: r["load"]["fixed"]["cpu_us_per_msg_with_redis"], True),
        ("fixed load: latency p50 (ms)", lambda r: r["load"]["fixed"]["latency_ms"]["p50"], True),
        ("fixed load: latency p90 (ms)", lambda r: r["load"]["fixed"]["latency_ms"]["p90"], True),
        ("fixed load: latency p99 (ms)", lambda r: r["load"]["fixed"]["latency_ms"]["p99"], True),
        ("fixed load: latency p99.9 (ms)",
         lambda r: r["load"]["fixed"]["latency_ms"]["p999"], True),
        ("fixed load: latency max (ms)", lambda r: r["load"]["fixed"]["latency_ms"]["max"], True),
        ("fixed load: loss (%)", lambda r: 100 * r["load"]["fixed"]["loss"], True),
        ("fixed load: sends refused by the server", lambda r: r["load"]["fixed"]["refused"],
         True),
        ("churn: chats completed per second", lambda r: r["churn"]["chats_per_s"], False),
        ("churn: failed chats", lambda r: r["churn"]["failed"], True),
        ("churn: server CPU per chat (ms)", lambda r: r["churn"]["cpu_ms_per_chat"], True),
        ("churn: chat set-up p99 (ms)", lambda r: r["churn"]["setup_ms"]["p99"], True),
    ]
    return out


def _fmt(value: float | None) -> str:
    if value is None:
        return "–"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _ratio(p: float | None, other: float | None) -> str:
    if p is None or other is None or other == 0:
        return "–"
    return f"{p / other:.2f}"


def _value(runs: list[dict[str, Any]], read: Callable[[dict[str, Any]], float | None]
           ) -> float | None:
    values = []
    for run in runs:
        with suppress(KeyError, TypeError):
            value = read(run)
            if value is not None:
                values.append(value)
    return mean(values) if values else None


def capacity(runs: list[dict[str, Any]]) -> tuple[int, str] | None:
    """The lower capacity of a target's runs, as a number and as text: "≥ x" when no step
    failed, "< x" when even the fixed load failed."""
    loads = [r["load"] for r in runs if "load" in r]
    if not loads:
        return None
    worst = min(loads, key=lambda load: load["capacity_msgs_per_s"])
    value = int(worst["capacity_msgs_per_s"])
    if not value:
        return 0, f"< {worst['fixed']['rate']:,}"
    return value, (f"{value:,}" if worst["capacity_reached"] else f"≥ {value:,}")


def _capacity_row(runs: dict[str, list[dict[str, Any]]]) -> str:
    cap = {t: capacity(runs[t]) for t in "PBN"}
    cells = [c[1] if c else "–" for c in cap.values()]
    num = {t: float(c[0]) if c and c[0] else None for t, c in cap.items()}
    ratios = [_ratio(num["P"], num[t]) for t in "BN"]
    return ("| capacity: highest rate with p99 ≤ 100 ms and loss ≤ 0.1 %, it and every lower "
            "step (messages/s; lower of the two runs) | " + " | ".join(cells + ratios) + " |")


def render(report: dict[str, Any]) -> str:
    """The results section: machine, command, one table per tier, compression, widget."""
    m = report["machine"]
    lines = [
        f"Run `{report['command']}` ({report['profile']} profile), "
        f"{report['started']} to {report['finished']}.",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gib']} GiB, Linux {m['kernel']}; "
        f"{m['pinning']}. Python {m['python']}, aiohttp {m['aiohttp']}, python-socketio "
        f"{m['python-socketio']}, python-engineio {m['python-engineio']}; Node {m['node']}, "
        f"socket.io {m['socket.io']}, socket.io-client {m['socket.io-client']}, "
        f"@socket.io/redis-adapter {m['@socket.io/redis-adapter']}; {m['redis-server']}.",
        "",
        "Each figure is the mean of the target's runs in this tier (order P,B,N,N,B,P in the "
        "full profile); ratios are P divided by B and by N (for CPU, memory and latency "
        "lower is better, for rates and capacity higher is).",
        "",
        *headline(report),
    ]
    for tier in [t for t in ("local", "redis", "two")
                 if any(r["tier"] == t for r in report["runs"])]:
        runs = {t: [r for r in report["runs"] if r["tier"] == tier and r["target"] == t]
                for t in "PBN"}
        lines += ["", f"### Tier: {TIER_NAMES[tier]}", "",
                  "| figure | P (this server) | B (bare python-socketio) | N (Node socket.io) "
                  "| P/B | P/N |", "|---|---:|---:|---:|---:|---:|"]
        for label, read, _ in metrics(report):
            p, b, n = (_value(runs[t], read) if runs[t] else None for t in "PBN")
            if p is None and b is None and n is None:
                continue
            lines.append(f"| {label} | {_fmt(p)} | {_fmt(b)} | {_fmt(n)} | {_ratio(p, b)} "
                         f"| {_ratio(p, n)} |")
            if label.startswith("fixed load: sends refused"):
                lines.append(_capacity_row(runs))
        steps = {t: [s for r in runs[t] for s in r["load"]["steps"]] for t in "PBN"}
        if any(steps.values()):
            lines += ["", "Step-up (p99 latency in ms, loss in %, per rate; mean of runs):", "",
                      "| messages/s | P p99 | P loss | B p99 | B loss | N p99 | N loss |",
                      "|---:|---:|---:|---:|---:|---:|---:|"]
            rates = sorted({s["rate"] for ss in steps.values() for s in ss})
            for rate in rates:
                cells = []
                for t in "PBN":
                    at = [s for s in steps[t] if s["rate"] == rate]
                    cells.append(_fmt(mean(s["latency_ms"]["p99"] or 0 for s in at))
                                 if at else "–")
                    cells.append(_fmt(mean(100 * s["loss"] for s in at)) if at else "–")
                lines.append(f"| {rate:,} | " + " | ".join(cells) + " |")
        lines += _defaults_table(report, tier)
    comp = {r["target"]: r["load"]["setup"]["compression"] for r in report["runs"]
            if r["target"] in "PBN"}
    lines += ["", "Negotiated WebSocket extensions (what the server accepted from the Node "
              "client, which offers permessage-deflate): " + ", ".join(
                  f"{t}: `{v}`" for t, v in sorted(comp.items())) + "."]
    lines += ["", "### Widget weight", "",
              "What a visitor's browser loads for the chat before any message, fetched from a "
              "running P: bytes as served, and gzip-compressed (level 9) as a compressing front "
              "proxy would send them. `nacl.min.js` (tweetnacl) and `socket.io.esm.min.js` "
              "(socket.io-client) are the npm assets:", "",
              "| file | bytes | gzip |", "|---|---:|---:|"]
    total = gz = 0
    for row in report["widget"]:
        total, gz = total + row["bytes"], gz + row["gzip"]
        lines.append(f"| {row['file']} | {row['bytes']:,} | {row['gzip']:,} |")
    lines.append(f"| **total** | **{total:,}** | **{gz:,}** |")
    return "\n".join(lines) + "\n"


def _defaults_table(report: dict[str, Any], tier: str) -> list[str]:
    """B on python-socketio's defaults (D) beside B on P's loop and JSON library."""
    runs = {t: [r for r in report["runs"] if r["tier"] == tier and r["target"] == t]
            for t in "PBD"}
    if not runs["D"]:
        return []
    rows = [("server CPU per relayed message at the fixed load (µs)",
             lambda r: r["load"]["fixed"]["cpu_us_per_msg"]),
            ("latency p99 at the fixed load (ms)",
             lambda r: r["load"]["fixed"]["latency_ms"]["p99"])]
    lines = ["", "The same bare relay on python-socketio's defaults (asyncio's event loop, the "
             "`json` module) instead of P's uvloop and orjson (**D**, load phase only):", "",
             "| figure | P | B (uvloop, orjson) | D (defaults) | P/D | B/D |",
             "|---|---:|---:|---:|---:|---:|"]
    for label, read in rows:
        p, b, d = (_value(runs[t], read) for t in "PBD")
        lines.append(f"| {label} | {_fmt(p)} | {_fmt(b)} | {_fmt(d)} | {_ratio(p, d)} "
                     f"| {_ratio(b, d)} |")
    cap = {t: capacity(runs[t]) for t in "PBD"}
    lines.append("| capacity (messages/s) | " + " | ".join(
        c[1] if c else "–" for c in cap.values()) + " | – | – |")
    return lines


def headline(report: dict[str, Any]) -> list[str]:
    """The figures the issue asks for, in sentences."""
    out = []
    for tier in ("local", "redis", "two"):
        runs = {t: [r for r in report["runs"] if r["tier"] == tier and r["target"] == t]
                for t in "PBN"}
        if not runs["P"]:
            continue
        cpu = {t: _value(runs[t], lambda r: r["load"]["fixed"]["cpu_us_per_msg"])
               for t in "PBN"}
        rss = {t: _value(runs[t], _idle(10000, "rss_per_conn_kb")) for t in "PBN"}
        text = (f"- {TIER_NAMES[tier]}: CPU per relayed message P/B {_ratio(cpu['P'], cpu['B'])}"
                f", P/N {_ratio(cpu['P'], cpu['N'])}")
        if rss["P"] is not None:
            text += f"; RSS per idle connection (10,000) P {_fmt(rss['P'])} KB"
        cap = capacity(runs["P"])
        if cap:
            text += f"; capacity of P {cap[1]} messages/s"
        out.append(text + ".")
    return out


def _median(runs: list[dict[str, Any]], read: Callable[[dict[str, Any]], float | None]
            ) -> float | None:
    values = []
    for run in runs:
        with suppress(KeyError, TypeError):
            value = read(run)
            if value is not None:
                values.append(value)
    return median(values) if values else None


def _step(rate: int, key: str) -> Callable[[dict[str, Any]], float | None]:
    def read(run: dict[str, Any]) -> float | None:
        return next((float(s[key]) for s in run["load"]["steps"] if s["rate"] == rate), None)
    return read


def render_against(report: dict[str, Any]) -> str:
    """P before (R: P at an earlier commit) and after (P: this tree), from one run: the median
    of each target's runs, which one run starved by other work on a shared machine moves less
    than the mean."""
    a, m = report["against"], report["machine"]
    lines = [
        f"Run `{report['command']}` ({report['profile']} profile), {report['started']} to "
        f"{report['finished']}: P at `{a['commit'][:7]}` (**before**, the `{a['ref']}` tree) "
        f"and P at `{a['current'][:7]}{'+changes' if a['current'].endswith('+changes') else ''}"
        f"` (**after**, this tree), alternately in each tier (order {','.join(a['order'])}; P "
        "is after, R before).",
        "",
        f"Machine: {m['cpu']}, {m['cores']} cores; {m['pinning']}. Load average (1, 5, 15 "
        f"minutes) at the start {a['load_start']}, at the end {a['load_end']}; the whole "
        f"machine was {a['busy_pct']:.0f} % busy during the run (all processes, both "
        "cores; the benchmark's own servers, Redis and load generator included).",
    ]
    for tier in [t for t in ("local", "redis", "two")
                 if any(r["tier"] == t for r in report["runs"])]:
        runs = {t: [r for r in report["runs"] if r["tier"] == tier and r["target"] == t]
                for t in "RP"}
        rows: list[tuple[str, Callable[[dict[str, Any]], float | None]]] = [
            ("server CPU per relayed message at the fixed load (µs)",
             lambda r: r["load"]["fixed"]["cpu_us_per_msg"]),
            ("the same, Redis's CPU included (µs)",
             lambda r: r["load"]["fixed"]["cpu_us_per_msg_with_redis"]),
            ("fixed load: rate (messages/s)", lambda r: r["load"]["fixed"]["rate"]),
            ("fixed load: latency p50 (ms)", lambda r: r["load"]["fixed"]["latency_ms"]["p50"]),
            ("fixed load: latency p99 (ms)", lambda r: r["load"]["fixed"]["latency_ms"]["p99"]),
            ("fixed load: loss (%)", lambda r: 100 * r["load"]["fixed"]["loss"]),
        ]
        rates = sorted({s["rate"] for r in runs["P"] + runs["R"] for s in r["load"]["steps"]})
        for rate in rates:
            if all(_step(rate, "cpu_us_per_msg")(r) is not None for r in runs["P"] + runs["R"]):
                rows.append((f"server CPU per relayed message at {rate:,} messages/s (µs)",
                             _step(rate, "cpu_us_per_msg")))
        lines += ["", f"#### {TIER_NAMES[tier]}", "",
                  "| figure (median of runs) | before | after | after/before |",
                  "|---|---:|---:|---:|"]
        for label, read in rows:
            before, after = _median(runs["R"], read), _median(runs["P"], read)
            lines.append(f"| {label} | {_fmt(before)} | {_fmt(after)} | "
                         f"{_ratio(after, before)} |")
        cap = {t: capacity(runs[t]) for t in "RP"}
        lines.append("| capacity: highest rate with p99 ≤ 100 ms and loss ≤ 0.1 %, it and every "
                     "lower step (messages/s; lower of the runs) | "
                     + " | ".join(c[1] if c else "–" for c in cap.values()) + " | – |")
        each = [f"{'after' if r['target'] == 'P' else 'before'} "
                f"{_fmt(r['load']['fixed']['cpu_us_per_msg'])}"
                f" ({_fmt(r['load']['fixed']['server_cpu_pct'])} % of a core)"
                for r in report["runs"] if r["tier"] == tier and r["target"] in "PR"]
        lines += ["", "Server CPU per relayed message at the fixed load, each run in order (µs, "
                  "and the servers' share of a core): " + ", ".join(each) + "."]
    return "\n".join(lines) + "\n"


def write_docs(report: dict[str, Any], path: Path) -> None:
    """Replace the results section of ``path`` with this run's tables (the before-and-after
    section for a run with ``--against``)."""
    start, end, text = START, END, render
    if "against" in report:
        start, end, text = AGAINST_START, AGAINST_END, render_against
    head, _, rest = path.read_text().partition(start)
    _, _, tail = rest.partition(end)
    path.write_text(head + start + "\n" + text(report) + end + tail)


if __name__ == "__main__":
    data = json.loads(Path(sys.argv[1]).read_text())
    if len(sys.argv) > 2:
        write_docs(data, Path(sys.argv[2]))
    else:
        print(render_against(data) if "against" in data else render(data))
