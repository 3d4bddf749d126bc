"""The production topology on loopback: Debian's nginx running ``deploy/nginx/`` unchanged but
for ports and upstreams, and scrapes of a node's metrics.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import urllib.request
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.redis_server import free_port
from tests.support.waiting import eventually_blocking

NGINX_DIR = ROOT / "deploy" / "nginx"
ONION = "erstkontakt" + "a" * 45  # 56 characters, the shape of a v3 onion address


def nginx_binary() -> str | None:
    """Debian's nginx, wherever the PATH of the test run leaves it."""
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx",) if Path(p).exists()), None)


def self_signed(folder: Path) -> None:
    """A throwaway certificate for 127.0.0.1 as ``fullchain.pem`` and ``privkey.pem``."""
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(folder / "privkey.pem"), "-out", str(folder / "fullchain.pem")],
        check=True, capture_output=True,
    )


def substitute(text: str, pattern: str, replacement: str, count: int) -> str:
    """``re.subn`` that insists on exactly ``count`` matches, so a changed file fails loudly."""
    new, found = re.subn(pattern, replacement, text, flags=re.MULTILINE)
    assert found == count, f"{pattern!r} matched {found} times, expected {count}"
    return new


class Nginx:
    """nginx in the foreground in ``root``: the shipped site file on free loopback ports."""

    def __init__(self, root: Path, node_ports: list[int], onion: str = ONION) -> None:
        self.root = root
        self.node_ports = node_ports
        self.http_port, self.https_port, self.onion_port = free_port(), free_port(), free_port()
        self.onion = onion
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.https_port}"

    def configure(self) -> None:
        """Write the configuration: deploy/nginx/ as shipped, with test ports and upstreams."""
        shutil.copytree(NGINX_DIR / "erstkontakt", self.root / "erstkontakt")
        if self.onion:
            location = self.root / "erstkontakt" / "onion-location.conf"
            location.write_text(substitute(
                location.read_text(), r"^#add_header Onion-Location http://\S+\.onion",
                f"add_header Onion-Location http://{self.onion}.onion", 1))
        self_signed(self.root / "tls")
        site = (NGINX_DIR / "erstkontakt.conf").read_text()
        site = substitute(site, r"^    server 127\.0\.0\.1:8081 .*$", "\n".join(
            f"    server 127.0.0.1:{port} max_fails=1 fail_timeout=3s;"
            for port in self.node_ports), 1)
        site = substitute(site, r"^    server 127\.0\.0\.1:8082 .*\n", "", 1)
        site = substitute(site, r"^    listen \[::\]:\d+ .*\n", "", 2)  # IPv6 may be off here
        site = substitute(site, r"^    listen 80 ", f"    listen 127.0.0.1:{self.http_port} ", 1)
        site = substitute(site, r"^    listen 443 ", f"    listen 127.0.0.1:{self.https_port} ", 1)
        site = substitute(site, r"^    listen 127\.0\.0\.1:8090 ",
                          f"    listen 127.0.0.1:{self.onion_port} ", 1)
        (self.root / "erstkontakt.conf").write_text(site)
        for folder in ("logs", "temp"):
            (self.root / folder).mkdir(exist_ok=True)
        temp = self.root / "temp"
        (self.root / "nginx.conf").write_text(f"""
pid {self.root}/nginx.pid;
error_log {self.root}/logs/error.log info;
worker_processes 1;
events {{ worker_connections 256; }}
http {{
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    # No access_log here: whatever the site file does not switch off lands in logs/access.log.
    include erstkontakt.conf;
}}
""")

    def _command(self, *extra: str) -> list[str]:
        exe = nginx_binary()
        assert exe is not None
        return [exe, "-p", f"{self.root}/", "-e", f"{self.root}/logs/error.log",
                "-c", f"{self.root}/nginx.conf", *extra]

    def check(self) -> subprocess.CompletedProcess[str]:
        """``nginx -t`` on the generated configuration."""
        return subprocess.run(self._command("-t"), capture_output=True, text=True, check=False)

    def start(self, timeout: float = 10.0) -> None:
        stderr = (self.root / "logs" / "stderr.log").open("ab")
        self.proc = subprocess.Popen(self._command("-g", "daemon off;"),
                                     stdout=stderr, stderr=subprocess.STDOUT)
        stderr.close()
        eventually_blocking(self.listening, what="nginx to listen", timeout=timeout,
                            ignoring=(OSError,))

    def listening(self) -> bool:
        """True once the TLS port takes connections; raises if nginx has exited."""
        assert self.proc is not None
        if self.proc.poll() is not None:
            raise RuntimeError("nginx exited: " + self.logs()[-2000:])
        socket.create_connection(("127.0.0.1", self.https_port), timeout=0.5).close()
        return True

    def stop(self) -> None:
        if self.proc is not None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            self.proc = None

    def logs(self) -> str:
        """Everything nginx wrote anywhere under ``logs/``."""
        return "".join(p.read_text(errors="replace") for p in sorted(
            (self.root / "logs").iterdir()) if p.is_file())

    def access_log(self) -> str:
        path = self.root / "logs" / "access.log"
        return path.read_text(errors="replace") if path.exists() else ""


def scrape(base_url: str) -> dict[str, int]:
    """A node's ``/metrics`` from loopback, as sample name (with labels) -> value."""
    with urllib.request.urlopen(base_url + "/metrics", timeout=3) as resp:
        text = resp.read().decode()
    out: dict[str, int] = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = int(float(value))  # prometheus_client writes "3.0"
    return out


async def ascrape(base_url: str) -> dict[str, int]:
    """:func:`scrape` without blocking the event loop."""
    return await asyncio.to_thread(scrape, base_url)
