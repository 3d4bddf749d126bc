"""Launcher click to usable widget, in Chromium with the network and the CPU throttled.

    python bench/widget_latency.py [--runs N] [--profiles slow4g,3g,loopback] [--write-docs]

Starts the chat server as ``make run`` does (embedded default, demo mode, a throwaway SQLite
file), opens the demo host page (/demo) in Debian's Chromium (launched as the browser tests
launch it), throttles it through the DevTools protocol (Network.emulateNetworkConditions,
Emulation.setCPUThrottlingRate) and clicks the launcher. Each run is a fresh browser context:
a cold cache, as for a first visit.

The click comes once the host page has loaded and its network has been quiet for 500 ms (a
visitor reading the page before deciding to click); "at load" clicks at the load event
instead, the impatient visitor, before an idle moment.

*Usable* is when both hold, seen from the host page on an animation frame: the frame is shown
(the iframe is rendered and not hidden) and the widget has initialised (widget.js sets
``data-ready`` on its body once the texts are in, every control has its handler and the
server has said whether anyone is on duty). The time is from the click event's timestamp to
that animation frame's, both on the browser's clock. The demo page and the frame share an
origin, which lets the host page look into the frame; the bench needs that, the widget not.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from playwright.async_api import Browser, async_playwright

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
START = "<!-- widget-latency:start -->"
END = "<!-- widget-latency:end -->"
# The flags of tests/support/browser.py (CHROMIUM_ARGS): the bench must not import the tests.
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--no-first-run"]
CPU_RATE = 4
# (label, latency ms, download bits/s, upload bits/s); None: no network throttling.
PROFILES: dict[str, tuple[str, float, float, float] | None] = {
    "slow4g": ("Slow 4G (150 ms, 1.6 Mbit/s down, 750 kbit/s up)", 150, 1.6e6, 750e3),
    "3g": ("3G (300 ms, 400 kbit/s both ways)", 300, 400e3, 400e3),
    "loopback": None,
}

# Runs in every frame before its own scripts (through the DevTools protocol, so no CSP applies).
# In the host page: note the launcher's click, then watch each animation frame for the shown
# frame whose widget is ready.
PROBE = """() => {
  if (window.top !== window) return;
  window.__usable = new Promise((resolve) => {
    window.addEventListener("click", (event) => {
      if (!event.target.matches || !event.target.matches("button[aria-expanded]")) return;
      const clicked = performance.timeOrigin + event.timeStamp;
      const tick = (now) => {
        const frame = document.querySelector("iframe");
        const shown = frame && frame.getClientRects().length
          && getComputedStyle(frame).visibility === "visible";
        let ready = false;
        try { ready = !!frame.contentDocument.body.dataset.ready; } catch (e) { /* loading */ }
        if (shown && ready) resolve(performance.timeOrigin + now - clicked);
        else requestAnimationFrame(tick);
      };
      requestAnimationFrame(tick);
    });
  });
}"""


def free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server() -> Iterator[str]:
    """``chatserver serve`` in demo mode on a free port, its database in a temporary folder."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="ek-bench-widget-") as tmp:
        env = {**os.environ, "CHATSERVER_DEMO": "true", "CHATSERVER_PORT": str(port),
               "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp}/bench.sqlite3"}
        proc = subprocess.Popen([str(Path(sys.executable).parent / "chatserver"), "serve"],
                                cwd=tmp, env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 30
            while True:
                try:
                    with urllib.request.urlopen(url + "/healthz", timeout=1):
                        break
                except OSError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise RuntimeError("the chat server did not come up") from None
                    time.sleep(0.1)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                proc.kill()


async def one_run(browser: Browser, url: str, profile: str, at_load: bool) -> float:
    """One cold visit: milliseconds from the launcher's click to the usable widget."""
    context = await browser.new_context(viewport={"width": 390, "height": 844})
    try:
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        await cdp.send("Emulation.setCPUThrottlingRate", {"rate": CPU_RATE})
        net = PROFILES[profile]
        if net is not None:
            _, latency, down, up = net
            await cdp.send("Network.enable")
            await cdp.send("Network.emulateNetworkConditions", {
                "offline": False, "latency": latency, "downloadThroughput": down / 8,
                "uploadThroughput": up / 8})
        await page.add_init_script(f"({PROBE})()")
        await page.goto(url + "/demo", wait_until="load" if at_load else "networkidle")
        launcher = page.get_by_role("button", name="Anonym chatten")
        await launcher.click()
        ms = float(await page.evaluate("window.__usable"))
        # Not timed: the visitor's first step is there.
        await page.frame_locator("iframe").get_by_role("button", name="Chat beginnen").wait_for()
        return ms
    finally:
        await context.close()


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, round(0.9 * (len(ordered) - 1)))]
    return {"median": statistics.median(ordered), "p90": p90, "min": ordered[0],
            "max": ordered[-1]}


async def measure(runs: int, profiles: list[str]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    with server() as url:
        async with async_playwright() as pw:
            browser = await pw.chromium.launch(executable_path="/usr/bin/chromium",
                                               args=CHROMIUM_ARGS)
            try:
                for profile in profiles:
                    for at_load in (False, True):
                        key = f"{profile}{' at load' if at_load else ''}"
                        values = [await one_run(browser, url, profile, at_load)
                                  for _ in range(runs)]
                        results[key] = {"profile": profile, "at_load": at_load,
                                        "runs_ms": values, **summary(values)}
                        print(f"{key}: median {results[key]['median']:.0f} ms, "
                              f"p90 {results[key]['p90']:.0f} ms", file=sys.stderr)
            finally:
                await browser.close()
    return results


def commit() -> str:
    def git(*argv: str) -> str:
        return subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True,
                              check=False).stdout.strip()
    head = git("rev-parse", "--short", "HEAD") or "?"
    return head + ("+changes" if git("status", "--porcelain", "--untracked-files=no") else "")


def render(results: dict[str, Any], runs: int) -> str:
    version = subprocess.run(["/usr/bin/chromium", "--version"], capture_output=True, text=True,
                             check=False).stdout.strip()
    lines = [f"Commit {commit()}, {version}, CPU throttled {CPU_RATE}×, {runs} cold runs per "
             f"row, {os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f} at the end.",
             "", "| network | click | median (ms) | p90 (ms) | min–max (ms) |",
             "|---|---|---:|---:|---:|"]
    for row in results.values():
        net = PROFILES[row["profile"]]
        label = net[0] if net else "loopback (no network throttling)"
        when = "at the load event" if row["at_load"] else "page loaded and quiet"
        lines.append(f"| {label} | {when} | {row['median']:.0f} | {row['p90']:.0f} | "
                     f"{row['min']:.0f}–{row['max']:.0f} |")
    return "\n".join(lines) + "\n"


def write_docs(text: str, path: Path) -> None:
    """Replace the marked widget-latency section of ``path`` with ``text``."""
    head, _, rest = path.read_text().partition(START)
    _, _, tail = rest.partition(END)
    path.write_text(head + START + "\n" + text + END + tail)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--profiles", default="slow4g,3g,loopback")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--write-docs", action="store_true")
    args = parser.parse_args(argv)
    profiles = args.profiles.split(",")
    unknown = set(profiles) - set(PROFILES)
    if unknown:
        parser.error(f"unknown profiles: {', '.join(sorted(unknown))}")
    results = asyncio.run(measure(args.runs, profiles))
    if args.out:
        args.out.write_text(json.dumps(results, indent=1))
    text = render(results, args.runs)
    print(text)
    if args.write_docs:
        write_docs(text, ROOT / "docs/benchmarks.md")
    return 0


if __name__ == "__main__":
    sys.exit(main())
