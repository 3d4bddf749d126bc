"""Our own browser modules are served minified (chatserver/web/assets.py): the minified
``jslib`` modules, the widget's proof-of-work modules, the console's notifications and its KDF
module pass the same node tests as their sources, and every served module of ours is minified
and still parses."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from chatserver.web.assets import minify_js
from counsellor_console import console_assets
from tests.support.paths import ROOT
from widget import widget_assets


def test_minified_jslib_modules_pass_the_node_tests(tmp_path: Path) -> None:
    (tmp_path / "jslib").mkdir()
    for module in (ROOT / "jslib").glob("*.js"):
        minified = minify_js(module.read_bytes())
        assert len(minified) < module.stat().st_size
        (tmp_path / "jslib" / module.name).write_bytes(minified)
    # The widget's proof-of-work modules have their node tests there too.
    (tmp_path / "widget" / "static").mkdir(parents=True)
    for module in (ROOT / "widget" / "static").glob("pow*.js"):
        (tmp_path / "widget" / "static" / module.name).write_bytes(
            minify_js(module.read_bytes()))
    # And the console's notifications and key-passphrase KDF (scrypt), whose pure parts are
    # tested there as well.
    (tmp_path / "counsellor_console" / "static").mkdir(parents=True)
    for name in ("notifications.js", "kdf.js"):
        source = ROOT / "counsellor_console" / "static" / name
        (tmp_path / "counsellor_console" / "static" / name).write_bytes(
            minify_js(source.read_bytes()))
    shutil.copytree(ROOT / "jslib" / "test", tmp_path / "jslib" / "test")
    shutil.copytree(ROOT / "tests" / "vectors", tmp_path / "tests" / "vectors")
    (tmp_path / "node_modules").symlink_to(ROOT / "node_modules")
    run = subprocess.run(["node", "--test", "jslib/test/"], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-2000:]
    assert "# fail 0" in run.stdout


def test_every_served_module_of_ours_is_minified_and_parses(tmp_path: Path) -> None:
    served = [a for assets in (widget_assets(), console_assets()) for a in assets  # type: ignore[attr-defined]
              if a.url.endswith(".js") and not a.url.endswith(".min.js")]
    assert {a.url.rsplit("/", 1)[1] for a in served} >= {
        "e2e.js", "relay.js", "reloadstate.js", "widget.js", "console.js", "pow.js",
        "pow-worker.js"}
    for asset in served:
        assert not any(line.lstrip().startswith((b"//", b"/*"))
                       for line in asset.body.splitlines()), asset.url
        path = tmp_path / asset.url.rsplit("/", 1)[1].replace(".js", ".mjs")
        path.write_bytes(asset.body)
        check = subprocess.run(["node", "--check", str(path)], capture_output=True, text=True,
                               timeout=60, check=False)
        assert check.returncode == 0, (asset.url, check.stderr[-2000:])
