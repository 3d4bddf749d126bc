"""``deploy/`` as its tools see it: docker compose parses compose.yaml, ``nginx -t`` accepts both
site configurations as shipped, systemd accepts the units, and the Docker build context holds
exactly what a node needs to start (and nothing secret).
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.support.deploy import DEPLOY, bare_env, compose_commands, normalized_compose
from tests.support.paths import ROOT
from tests.support.redis_server import free_port
from tests.support.topology import NGINX_DIR, nginx_binary, self_signed, substitute
from tests.support.waiting import eventually_blocking

CHATSERVER_IMAGE = "erstkontakt/chatserver:local"


@pytest.mark.parametrize("variables", [{}, {"POSTGRES_PASSWORD": "x" * 24}],
                         ids=["without-env", "with-env"])
def test_compose_file_validates(variables: dict[str, str]) -> None:
    commands = compose_commands()
    if not commands:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    for command in commands:
        result = subprocess.run([*command, "-f", str(DEPLOY / "compose.yaml"), "config", "-q"],
                                capture_output=True, text=True, env=bare_env(**variables),
                                check=False)
        assert result.returncode == 0, result.stderr
        services = subprocess.run(
            [*command, "-f", str(DEPLOY / "compose.yaml"), "config", "--services"],
            capture_output=True, text=True, env=bare_env(**variables), check=True,
        ).stdout.split()
        assert set(services) == {"redis", "postgres", "chatserver-1", "chatserver-2", "nginx"}


def test_compose_topology_keeps_its_promises() -> None:
    config = normalized_compose()
    services = config["services"]
    nodes = {name: s for name, s in services.items() if s.get("image") == CHATSERVER_IMAGE}
    assert len(nodes) >= 2
    # Only nginx is reachable from outside; the databases sit on an internal network.
    assert [name for name, s in services.items() if s.get("ports")] == ["nginx"]
    assert config["networks"]["backend"]["internal"] is True
    for name in ("redis", "postgres"):
        assert set(services[name]["networks"]) == {"backend"}, name
    nginx_address = services["nginx"]["networks"]["edge"]["ipv4_address"]
    for name, service in services.items():
        assert service.get("healthcheck", {}).get("test"), f"{name} has no health check"
        assert service.get("read_only") is True, f"{name} has a writable root filesystem"
        assert service.get("logging", {}).get("driver") == "json-file", name
    for name, node in nodes.items():
        env = node["environment"]
        assert env["CHATSERVER_REDIS_URL"].startswith("redis://redis:"), name
        assert env["CHATSERVER_DATABASE_URL"].startswith("postgresql://"), name
        assert env["CHATSERVER_TRUSTED_PROXIES"] == nginx_address, name
        assert "/healthz" in " ".join(node["healthcheck"]["test"]), name
        assert node["cap_drop"] == ["ALL"], name
        assert set(node["networks"]) == {"backend", "edge"}, name
    # Redis keeps relay state in an append-only file on a volume of its own (the one thing on a
    # disk), flushed every second, rewritten once it has doubled past 1 MB, and no snapshots.
    redis = services["redis"]
    assert redis["command"][0] == "redis-server"
    options = dict(zip(redis["command"][1::2], redis["command"][2::2], strict=True))
    assert options["--appendonly"] == "yes" and options["--appendfsync"] == "everysec"
    assert options["--save"] == "" and options["--auto-aof-rewrite-min-size"] == "1mb"
    assert options["--maxmemory-policy"] == "noeviction"
    # docker-compose 1.x writes a volume as "source:target:mode", the plugin as a mapping.
    mounts = [v.split(":")[:2] if isinstance(v, str) else [v["source"], v["target"]]
              for v in redis["volumes"]]
    assert mounts == [["redis-data", "/data"]] and "tmpfs" not in redis, redis
    assert "redis-data" in config["volumes"]
    # Every node is in nginx's upstream.
    upstream = (NGINX_DIR / "compose.conf").read_text()
    for name in nodes:
        assert f"server {name}:8080 " in upstream, name


def nginx_or_skip() -> str:
    exe = nginx_binary()
    if exe is None:
        pytest.skip("nginx is not installed (make test installs nginx-light)")
    return exe


def nginx_test(exe: str, conf_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [exe, "-t", "-p", f"{conf_dir}/", "-e", f"{conf_dir}/error.log",
         "-c", f"{conf_dir}/nginx.conf"], capture_output=True, text=True, check=False)


def test_nginx_accepts_the_host_site_as_shipped(tmp_path: Path) -> None:
    exe = nginx_or_skip()
    shutil.copytree(NGINX_DIR / "erstkontakt", tmp_path / "erstkontakt")
    self_signed(tmp_path / "tls")
    (tmp_path / "nginx.conf").write_text(f"""
pid {tmp_path}/nginx.pid;
events {{}}
http {{
    include {NGINX_DIR / "erstkontakt.conf"};
}}
""")
    result = nginx_test(exe, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_nginx_accepts_the_compose_configuration(tmp_path: Path) -> None:
    """The container's layout: our nginx.conf, compose.conf as conf.d/default.conf."""
    exe = nginx_or_skip()
    mime = Path("/etc/nginx/mime.types")
    if not mime.exists():
        pytest.skip("Debian's /etc/nginx/mime.types is missing")
    shutil.copy(NGINX_DIR / "nginx.conf", tmp_path / "nginx.conf")
    shutil.copy(mime, tmp_path / "mime.types")
    shutil.copytree(NGINX_DIR / "erstkontakt", tmp_path / "erstkontakt")
    self_signed(tmp_path / "tls")
    (tmp_path / "conf.d").mkdir()
    site = (NGINX_DIR / "compose.conf").read_text()
    # The service names resolve only inside compose's network.
    site = substitute(site, r"server chatserver-(\d):8080 ", r"server 127.0.0.\1:8080 ", 2)
    (tmp_path / "conf.d" / "default.conf").write_text(site)
    result = nginx_test(exe, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "[warn]" not in result.stderr, result.stderr


def test_nginx_keeps_addresses_and_metrics_away() -> None:
    """No access log anywhere, and no request-time error log (it would name the client)."""
    for name in ("erstkontakt.conf", "compose.conf"):
        text = (NGINX_DIR / name).read_text()
        servers = text.count("server {")
        assert servers == 3, name
        assert text.count("access_log off;") == servers, name
        assert text.count("error_log stderr emerg;") == servers, name
        assert "log_format" not in text and "$remote_addr" not in text.replace(
            "set $ek_client $remote_addr;", ""), name
    locations = (NGINX_DIR / "erstkontakt" / "locations.conf").read_text()
    assert "location = /metrics {\n    return 404;" in locations
    main = (NGINX_DIR / "nginx.conf").read_text()
    assert "access_log off;" in main


def test_systemd_units_are_accepted(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not installed")
    true = shutil.which("true")
    assert true is not None
    for unit in ("erstkontakt@.service", "erstkontakt.target"):
        text = (DEPLOY / "systemd" / unit).read_text()
        # The installation path does not exist here; any executable does for the check.
        text = text.replace("/opt/erstkontakt/.venv/bin/chatserver", true)
        target = "erstkontakt@8081.service" if unit.endswith("@.service") else unit
        (tmp_path / target).write_text(text)
    result = subprocess.run(
        [analyze, "verify", "--man=no", str(tmp_path / "erstkontakt@8081.service"),
         str(tmp_path / "erstkontakt.target")],
        capture_output=True, text=True, check=False,
        env={**os.environ, "SYSTEMD_LOG_LEVEL": "warning"})
    # Dependencies that exist only on a real host (redis, postgresql) are not our concern.
    complaints = [line for line in (result.stdout + result.stderr).splitlines()
                  if line.strip() and "erstkontakt@8082.service" not in line]
    assert result.returncode == 0 and not complaints, complaints


def test_tor_accepts_the_onion_service_with_its_defences_on(tmp_path: Path) -> None:
    """Over the onion every circuit is an address: the torrc switches Tor's proof of work and
    the introduction rate limit on, and tor (where installed) accepts it as shipped."""
    torrc = (DEPLOY / "tor" / "torrc").read_text()
    settings = dict(line.split(None, 1) for line in torrc.splitlines()
                    if line.strip() and not line.startswith("#"))
    assert settings["HiddenServicePoWDefensesEnabled"] == "1"
    assert settings["HiddenServiceEnableIntroDoSDefense"] == "1"
    assert settings["HiddenServiceMaxStreamsCloseCircuit"] == "1"
    tor = shutil.which("tor")
    if tor is None:
        pytest.skip("tor is not installed")
    if "pow: yes" not in subprocess.run([tor, "--list-modules"], capture_output=True,
                                        text=True, check=True).stdout:
        pytest.skip("this tor was built without proof of work")
    for folder in ("hs", "data"):
        (tmp_path / folder).mkdir(mode=0o700)
    local = torrc.replace("/var/lib/tor/erstkontakt/", f"{tmp_path}/hs/")
    (tmp_path / "torrc").write_text(local + f"\nDataDirectory {tmp_path}/data\n")
    result = subprocess.run([tor, "--verify-config", "-f", str(tmp_path / "torrc")],
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0 and "Configuration was valid" in result.stdout, result.stdout


def dockerignore_admits(rules: list[tuple[bool, str]], path: str) -> bool:
    """Docker's rule: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    candidates = ["/".join(parts[:i]) for i in range(1, len(parts) + 1)]
    admitted = True
    for include, pattern in rules:
        for candidate in candidates:
            if pattern.startswith("**/"):
                hit = any(fnmatch.fnmatch(part, pattern[3:]) for part in candidate.split("/"))
            else:
                hit = fnmatch.fnmatch(candidate, pattern) and (
                    "/" in pattern or "/" not in candidate or candidate == parts[0])
            if hit:
                admitted = include
                break
    return admitted


def build_context(target: Path) -> list[str]:
    """Copy the files .dockerignore lets into the build context; returns their paths."""
    rules: list[tuple[bool, str]] = []
    for line in (ROOT / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            include = line.startswith("!")
            rules.append((include, line.removeprefix("!").rstrip("/")))
    tracked = subprocess.run(["git", "ls-files", "--cached", "--others", "--exclude-standard"],
                             cwd=ROOT, capture_output=True, text=True, check=True).stdout
    admitted = []
    for path in tracked.splitlines():
        if (ROOT / path).is_file() and dockerignore_admits(rules, path):
            admitted.append(path)
            (target / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(ROOT / path, target / path)
    return admitted


def test_the_docker_build_context_starts_a_node_and_holds_no_secret(tmp_path: Path) -> None:
    app = tmp_path / "app"
    admitted = build_context(app)
    assert "chatserver/main.py" in admitted and "requirements.lock" in admitted
    assert not [p for p in admitted if p.startswith(("tests/", "deploy/", "docs/", "var/"))
                or p.endswith((".sqlite3", ".pem", ".key", ".env"))], admitted
    # The image installs node_modules with npm ci; the test borrows the checkout's.
    (app / "node_modules").symlink_to(ROOT / "node_modules")
    port = free_port()
    env = {**os.environ, "PYTHONPATH": str(app), "CHATSERVER_HOST": "127.0.0.1",
           "CHATSERVER_PORT": str(port), "CHATSERVER_KDF_COST": "min",
           "CHATSERVER_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}"}
    where = subprocess.run([sys.executable, "-c", "import chatserver; print(chatserver.__file__)"],
                           cwd=app, env=env, capture_output=True, text=True, check=True)
    assert where.stdout.strip() == str(app / "chatserver" / "__init__.py")
    proc = subprocess.Popen([sys.executable, "-m", "chatserver", "serve"], cwd=app, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    def healthy() -> bool:
        if proc.poll() is not None:
            raise RuntimeError(proc.stdout.read() if proc.stdout else "the node exited")
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
            return True

    try:
        eventually_blocking(healthy, what="the node from the build context to come up",
                            timeout=20, interval=0.1, ignoring=(OSError,))
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/demo", timeout=3) as resp:
            assert resp.status == 200
    finally:
        proc.terminate()
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0 and b"Traceback" not in out


def test_the_dockerfile_runs_unprivileged_from_the_lockfiles() -> None:
    lines = [line.strip() for line in (DEPLOY / "Dockerfile").read_text().splitlines()]
    final_stage = lines[max(i for i, line in enumerate(lines) if line.startswith("FROM ")):]
    users = [line.split()[1] for line in final_stage if line.startswith("USER ")]
    assert users and users[-1].split(":")[0] not in ("0", "root")
    assert int(users[-1].split(":")[0]) >= 1000
    after_user = final_stage[final_stage.index(f"USER {users[-1]}"):]
    assert not any(line.startswith("RUN ") for line in after_user)
    text = "\n".join(lines)
    assert "npm ci" in text and "-c requirements.lock" in text
    assert "HEALTHCHECK" in text and "/healthz" in text
