"""The benchmark: this chat server (P) beside a bare python-socketio relay (B) and a Node
socket.io relay (N), on the same machine in one run.

    python bench/run.py [--quick | --tiny] [--targets P,B,N] [--tiers local,redis,two]
                        [--out FILE.json] [--write-docs]
    python bench/run.py --against REF [--tiny] [--tiers redis,two] [--out FILE.json]
                        [--write-docs]

Targets run in the order P,B,N,N,B,P (each twice; the report takes the better run of each
figure where lower or higher is better, and keeps both in the JSON). Tiers: ``local`` one
process without Redis, ``redis`` one process with Redis, ``two`` two processes over one Redis
with visitors on the first and counsellors on the second. Servers (and Redis) are pinned to
core 0 and the load generator (Node, ``bench/node/loadgen.js``) to core 1 where the machine
has two cores or more. Every figure comes from /proc: CPU time (utime + stime) and VmRSS.

``--against REF`` measures P before and after a change in one run: P from this tree and R, the
same target from the tree of REF (a git commit), unpacked into a temporary directory and
started with PYTHONPATH pointing there, on this tree's virtual environment and Node packages.
They run alternately (P,R,R,P,P,R) in the Redis tiers, load phase only.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
PYTHON = sys.executable
TICK = os.sysconf("SC_CLK_TCK")
CORES = os.cpu_count() or 1
SERVER_CPUS = "0"
LOAD_CPUS = "1" if CORES >= 2 else "0"

PROFILES: dict[str, dict[str, Any]] = {
    # The full run: about 25 minutes on two cores. The idle phase runs in the one-process
    # tiers only: idle sockets never cross nodes, so the two-process tier would repeat the
    # Redis tier. D (B on the library's defaults) runs the load phase in the local tier.
    "full": {"order": "PBNNBP", "levels": [1000, 5000, 10000], "idle_s": 2.0, "settle_s": 0.5,
             "idle_tiers": ["local", "redis"], "pairs": 400, "per_counsellor": 4,
             "fixed_rate": 400, "fixed_s": 10.0,
             "steps": [600, 900, 1350, 2000, 3000, 4500, 6750, 10000], "step_s": 4.0,
             "churn_rate": 20, "churn_s": 8.0, "extra": {"local": "DD"}},
    # make bench-quick: one tier, each target once, small numbers (under two minutes).
    "quick": {"order": "PBN", "levels": [500, 1000], "idle_s": 2.0, "pairs": 100,
              "per_counsellor": 4, "fixed_rate": 200, "fixed_s": 4.0, "steps": [600, 1200],
              "step_s": 3.0, "churn_rate": 10, "churn_s": 3.0, "tiers": ["local"]},
    # The harness test: a few seconds.
    "tiny": {"order": "PBN", "levels": [20], "idle_s": 0.2, "settle_s": 0.1, "pairs": 8,
             "per_counsellor": 4, "fixed_rate": 50, "fixed_s": 0.5, "steps": [100],
             "step_s": 0.4, "churn_rate": 8, "churn_s": 0.5, "tiers": ["local"],
             "fresh": False},
    # --against REF: P (this tree) and R (P at REF), three times each per tier, alternately,
    # load phase only: about five minutes on two cores.
    "against": {"order": "PRRPPR", "pairs": 200, "per_counsellor": 4, "fixed_rate": 400,
                "fixed_s": 8.0, "steps": [600, 900, 1350], "step_s": 3.0,
                "tiers": ["redis", "two"], "phases": ["load"]},
    "against-tiny": {"order": "PR", "pairs": 8, "per_counsellor": 4, "fixed_rate": 50,
                     "fixed_s": 0.5, "steps": [100], "step_s": 0.4, "tiers": ["redis"],
                     "phases": ["load"]},
}
CAPACITY_P99_MS = 100.0
CAPACITY_LOSS = 0.001


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def pinned(cpus: str, argv: list[str]) -> list[str]:
    return ["taskset", "-c", cpus, *argv] if shutil.which("taskset") else argv


def wait_http(url: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{url} did not come up")
        time.sleep(0.05)


@dataclass
class Servers:
    """The processes of one target in one tier."""

    urls: list[str]
    pids: list[int]
    redis_pid: int | None

    def cpu(self) -> tuple[float, float]:
        """CPU seconds of the servers and of Redis."""
        servers = sum(cpu_seconds(p) for p in self.pids)
        return servers, cpu_seconds(self.redis_pid) if self.redis_pid else 0.0

    def rss(self) -> int:
        return sum(rss_bytes(p) for p in self.pids)


@contextmanager
def redis_server(workdir: Path) -> Iterator[tuple[str, int]]:
    port = free_port()
    proc = subprocess.Popen(
        pinned(SERVER_CPUS, ["redis-server", "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(workdir)]),
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                    break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("redis did not start") from None
                time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0", proc.pid
    finally:
        proc.terminate()
        proc.wait(10)


def server_argv(target: str, port: int, workdir: Path, redis_url: str, tree: Path = ROOT
                ) -> list[str]:
    if target in "PR":
        return [PYTHON, str(tree / "bench/targets/chatserver_p.py"), str(port), str(workdir),
                redis_url]
    if target in "BD":
        return [PYTHON, str(HERE / "targets/bare.py"), str(port), redis_url]
    return ["node", str(HERE / "node/relay.js"), str(port), redis_url]


def server_env(target: str, tree: Path = ROOT) -> dict[str, str]:
    """B runs on P's event loop and JSON library (the floor of our stack); D, the same bare
    relay on python-socketio's defaults (asyncio's loop, the json module)."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    env.pop("BENCH_FAST", None)
    if target == "B":
        env["BENCH_FAST"] = "1"
    return env


@contextmanager
def checkout(ref: str) -> Iterator[tuple[Path, str]]:
    """The tree of git commit ``ref`` in a temporary directory, and the commit's hash; it uses
    this tree's Node packages (the widget's assets) and is run on this virtual environment."""
    commit = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--verify", ref + "^{commit}"],
                            check=True, capture_output=True, text=True).stdout.strip()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit],
                             check=True, capture_output=True).stdout
    with tempfile.TemporaryDirectory(prefix="ek-bench-ref-") as tmp:
        tree = Path(tmp)
        with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
            tar.extractall(tree, filter="data")
        (tree / "node_modules").symlink_to(ROOT / "node_modules")
        # PYTHONPATH must win over this tree's editable install, or R would measure P again.
        where = subprocess.run(
            [PYTHON, "-c", "import chatserver; print(chatserver.__file__)"], cwd=tree,
            env=server_env("R", tree), check=True, capture_output=True, text=True).stdout.strip()
        if not Path(where).resolve().is_relative_to(tree.resolve()):
            raise RuntimeError(f"R would import chatserver from {where}, not from {tree}")
        yield tree, commit


def current_commit() -> str:
    """This tree's commit, with "+changes" if it differs from it."""
    def git(*argv: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True,
                              check=False).stdout.strip()
    commit = git("rev-parse", "HEAD") or "?"
    return commit + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


@contextmanager
def servers(target: str, tier: str, tree: Path = ROOT) -> Iterator[Servers]:
    with tempfile.TemporaryDirectory(prefix="ek-bench-") as tmp:
        workdir = Path(tmp)
        with (redis_server(workdir) if tier != "local" else _no_redis()) as (redis_url, rpid):
            procs = []
            try:
                for index in range(2 if tier == "two" else 1):
                    port = free_port()
                    # Each node its own SQLite file: the relay shares only Redis, and the
                    # bench touches no one's PostgreSQL.
                    nodedir = workdir / f"node{index}"
                    nodedir.mkdir()
                    procs.append((subprocess.Popen(
                        pinned(SERVER_CPUS, server_argv(target, port, nodedir, redis_url, tree)),
                        cwd=tree, env=server_env(target, tree),
                        stdout=subprocess.DEVNULL, stderr=sys.stderr), port))
                urls = [f"http://127.0.0.1:{port}" for _, port in procs]
                for url in urls:
                    wait_http(url + "/healthz")
                yield Servers(urls, [p.pid for p, _ in procs], rpid)
            finally:
                for proc, _ in procs:
                    proc.terminate()
                for proc, _ in procs:
                    try:
                        proc.wait(15)
                    except subprocess.TimeoutExpired:
                        proc.kill()


@contextmanager
def _no_redis() -> Iterator[tuple[str, None]]:
    yield "", None


class LoadGen:
    """One run of bench/node/loadgen.js, spoken to in lines of JSON."""

    def __init__(self, settings: dict[str, Any]) -> None:
        self.proc = subprocess.Popen(
            pinned(LOAD_CPUS, ["node", str(HERE / "node/loadgen.js"), json.dumps(settings)]),
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)

    def read(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"load generator ended early (exit {self.proc.wait()})")
        message: dict[str, Any] = json.loads(line)
        if message.get("event") == "error":
            raise RuntimeError("load generator: " + message["message"])
        return message

    def go(self) -> None:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()

    def close(self) -> None:
        assert self.proc.stdin is not None
        with suppress(BrokenPipeError):
            self.proc.stdin.write("stop\n")
            self.proc.stdin.flush()
        try:
            self.proc.wait(30)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def protocol(target: str) -> str:
    return "chatserver" if target in "PR" else "bare"


def idle_phase(target: str, srv: Servers, prof: dict[str, Any]) -> list[dict[str, Any]]:
    time.sleep(prof.get("settle_s", 0.5))
    base_rss = srv.rss()
    gen = LoadGen({"phase": "idle", "protocol": protocol(target), "urls": srv.urls[:1],
                   "levels": prof["levels"], "concurrency": 100})
    out = []
    try:
        for _ in prof["levels"]:
            ready = gen.read()
            time.sleep(prof.get("settle_s", 1.0))  # let the last handshakes settle
            cpu0, _ = srv.cpu()
            time.sleep(prof["idle_s"])
            cpu1, _ = srv.cpu()
            rss = srv.rss()
            out.append({"connections": ready["open"], "failed": ready["failed"],
                        "connects_per_s": ready["connects_per_s"],
                        "rss_per_conn_kb": (rss - base_rss) / max(1, ready["open"]) / 1024,
                        "rss_mb": rss / 2**20,
                        "idle_cpu_pct": 100 * (cpu1 - cpu0) / prof["idle_s"]})
            gen.go()
    finally:
        gen.close()
    return out


def load_phase(target: str, srv: Servers, prof: dict[str, Any]) -> dict[str, Any]:
    steps = [{"rate": prof["fixed_rate"], "seconds": prof["fixed_s"]}] + [
        {"rate": r, "seconds": prof["step_s"]} for r in prof["steps"]]
    gen = LoadGen({"phase": "load", "protocol": protocol(target), "urls": srv.urls,
                   "pairs": prof["pairs"], "perCounsellor": prof["per_counsellor"],
                   "steps": steps})
    results = []
    try:
        setup = gen.read()
        for _ in steps:
            gen.go()
            gen.read()  # start
            cpu0, redis0 = srv.cpu()
            t0 = time.monotonic()
            end = gen.read()
            cpu1, redis1 = srv.cpu()
            wall = time.monotonic() - t0
            end.pop("event")
            delivered = max(1, end["received"])
            end.update({
                "server_cpu_pct": 100 * (cpu1 - cpu0) / wall,
                "redis_cpu_pct": 100 * (redis1 - redis0) / wall,
                # Each relayed message is one send, its answer, the relay, an ack and a
                # "delivered": the same five frames on every target.
                "cpu_us_per_msg": 1e6 * (cpu1 - cpu0) / delivered,
                "cpu_us_per_msg_with_redis": 1e6 * (cpu1 - cpu0 + redis1 - redis0) / delivered,
            })
            results.append(end)
            if not passes(end):  # the fixed load is the first rung of the ladder
                break
    finally:
        gen.close()
    fixed, ramp = results[0], results[1:]
    # Capacity: the highest rate that passed with every lower one (fixed load included).
    passing = [r["rate"] for r in results if passes(r)]
    return {"setup": {k: setup[k] for k in ("pairs", "failed", "setup_s", "compression")},
            "fixed": fixed, "steps": ramp,
            "capacity_msgs_per_s": max(passing) if passing else 0,
            "capacity_reached": len(passing) < len(steps)}


def passes(step: dict[str, Any]) -> bool:
    """p99 latency within 100 ms and loss within 0.1 %."""
    p99 = step["latency_ms"]["p99"]
    return p99 is not None and p99 <= CAPACITY_P99_MS and step["loss"] <= CAPACITY_LOSS


def churn_phase(target: str, srv: Servers, prof: dict[str, Any]) -> dict[str, Any]:
    gen = LoadGen({"phase": "churn", "protocol": protocol(target), "urls": srv.urls,
                   "rate": prof["churn_rate"], "seconds": prof["churn_s"], "messages": 4,
                   "counsellors": 10})
    try:
        gen.go()
        gen.read()
        cpu0, _ = srv.cpu()
        t0 = time.monotonic()
        end = gen.read()
        cpu1, _ = srv.cpu()
        end.pop("event")
        end["server_cpu_pct"] = 100 * (cpu1 - cpu0) / (time.monotonic() - t0)
        end["cpu_ms_per_chat"] = 1e3 * (cpu1 - cpu0) / max(1, end["done"])
    finally:
        gen.close()
    return end


def run_one(target: str, tier: str, prof: dict[str, Any],
            phases: tuple[str, ...] = ("idle", "load", "churn"), tree: Path = ROOT
            ) -> dict[str, Any]:
    t0 = time.monotonic()
    print(f"  {target} / {tier} …", file=sys.stderr, flush=True)
    result: dict[str, Any] = {"target": target, "tier": tier, "idle": []}
    if tier not in prof.get("idle_tiers", [tier]):
        phases = tuple(p for p in phases if p != "idle")
    run = {"idle": idle_phase, "load": load_phase, "churn": churn_phase}
    if not prof.get("fresh", True):  # the harness test: one set of servers for all phases
        with servers(target, tier, tree) as srv:
            for phase in phases:
                result[phase] = run[phase](target, srv, prof)
    else:
        # Fresh servers for each phase, so no phase inherits another's memory or load.
        for phase in phases:
            with servers(target, tier, tree) as srv:
                result[phase] = run[phase](target, srv, prof)
    result["seconds"] = round(time.monotonic() - t0, 1)
    return result


def versions() -> dict[str, str]:
    from importlib.metadata import version

    def node_pkg(name: str) -> str:
        path = HERE / "node/node_modules" / name / "package.json"
        return str(json.loads(path.read_text())["version"]) if path.exists() else "?"

    def out(*argv: str) -> str:
        try:
            return subprocess.run(argv, capture_output=True, text=True, check=False
                                  ).stdout.strip().splitlines()[0]
        except (OSError, IndexError):
            return "?"

    model = next((line.split(":", 1)[1].strip() for line in
                  Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor())
    mem = next(line.split()[1] for line in Path("/proc/meminfo").read_text().splitlines()
               if line.startswith("MemTotal"))
    return {
        "cpu": model, "cores": str(CORES), "memory_gib": f"{int(mem) / 2**20:.0f}",
        "kernel": platform.release(), "python": platform.python_version(),
        "aiohttp": version("aiohttp"), "python-socketio": version("python-socketio"),
        "python-engineio": version("python-engineio"), "node": out("node", "--version"),
        "socket.io": node_pkg("socket.io"), "socket.io-client": node_pkg("socket.io-client"),
        "@socket.io/redis-adapter": node_pkg("@socket.io/redis-adapter"),
        "redis-server": out("redis-server", "--version"),
        "pinning": f"servers and Redis on CPU {SERVER_CPUS}, load generator on CPU {LOAD_CPUS}"
        if shutil.which("taskset") else "none (taskset missing)",
    }


def widget_weight() -> list[dict[str, Any]]:
    """What a visitor's browser loads for the widget, fetched from a running P: the embed
    script on the host page, the frame page, and every style sheet, script and catalog the
    frame names (the German catalog; the English one only on switching). Bytes as served, and
    gzip-compressed at level 9 as a compressing front proxy would send them."""
    import gzip
    import re

    out = []
    with servers("P", "local") as srv:
        def fetch(path: str) -> bytes:
            with urllib.request.urlopen(srv.urls[0] + path, timeout=10) as resp:
                return bytes(resp.read())

        frame = fetch("/widget/frame")
        files = [("embed.js (on the host page)", fetch("/widget/embed.js")),
                 ("frame page (/widget/frame)", frame)]
        for path in re.findall(r'(?:href|src|data-i18n-de)="(/[^"]+)"', frame.decode()):
            files.append((path.rsplit("/", 1)[-1], fetch(path)))
    for name, data in files:
        out.append({"file": name, "bytes": len(data),
                    "gzip": len(gzip.compress(data, compresslevel=9))})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run under two minutes")
    parser.add_argument("--tiny", action="store_true", help="a few seconds, for the test")
    parser.add_argument("--against", default="", metavar="REF",
                        help="P before (git commit REF) and after (this tree), in one run")
    parser.add_argument("--targets", default="P,B,N")
    parser.add_argument("--tiers", default="")
    parser.add_argument("--out", default="")
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    if args.against:
        name = "against-tiny" if args.tiny else "against"
    else:
        name = "tiny" if args.tiny else "quick" if args.quick else "full"
    prof = PROFILES[name]
    targets = set(args.targets.split(",")) | ({"P", "R"} if args.against else set())
    tiers = args.tiers.split(",") if args.tiers else prof.get("tiers", ["local", "redis", "two"])
    started = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    load_start, busy_start = load_average(), machine_cpu()
    runs = []
    with checkout(args.against) if args.against else _no_checkout() as (ref_tree, ref_commit):
        trees = {"R": ref_tree}
        for tier in tiers:
            print(f"tier {tier}", file=sys.stderr, flush=True)
            for target in prof["order"]:
                if target in targets:
                    runs.append(run_one(target, tier, prof, tuple(prof.get(
                        "phases", ("idle", "load", "churn"))), trees.get(target, ROOT)))
            for target in prof.get("extra", {}).get(tier, ""):
                if "B" in targets:
                    runs.append(run_one(target, tier, prof, ("load",)))
    report = {"profile": name, "started": started, "finished": time.strftime(
        "%Y-%m-%dT%H:%M:%S%z"), "command": "python bench/run.py " + " ".join(
        argv if argv is not None else sys.argv[1:]), "machine": versions(),
        "runs": runs}
    if args.against:
        busy, total = (end - start for end, start in zip(machine_cpu(), busy_start,
                                                          strict=True))
        report["against"] = {"ref": args.against, "commit": ref_commit,
                             "current": current_commit(), "order": prof["order"],
                             "load_start": load_start, "load_end": load_average(),
                             "busy_pct": 100 * busy / max(1, total)}
    else:
        report["widget"] = widget_weight()
    out = Path(args.out) if args.out else HERE / "results" / f"{name}-{int(time.time())}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=1))
    print(f"results: {out}", file=sys.stderr)
    from bench.report import render, render_against, write_docs

    print(render_against(report) if args.against else render(report))
    if args.write_docs:
        write_docs(report, ROOT / "docs/benchmarks.md")
    return 0


@contextmanager
def _no_checkout() -> Iterator[tuple[Path, str]]:
    yield ROOT, ""


def load_average() -> str:
    """The machine's load averages (1, 5, 15 minutes)."""
    return " ".join(Path("/proc/loadavg").read_text().split()[:3])


def machine_cpu() -> tuple[int, int]:
    """Busy and total CPU time of the whole machine so far, in ticks (from /proc/stat)."""
    # user, nice, system, idle, iowait, irq, softirq, steal (guest time is inside user)
    ticks = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    idle = ticks[3] + ticks[4]  # idle and iowait
    return sum(ticks) - idle, sum(ticks)


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
