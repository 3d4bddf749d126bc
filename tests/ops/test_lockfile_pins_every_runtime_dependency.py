"""``requirements.lock`` pins every runtime dependency in ``pyproject.toml`` (Alembic among
them) and everything those need, at versions the declared ranges allow: the image installs
with the lock as constraints, so a package missing from it would come unpinned.
"""

from __future__ import annotations

import tomllib
from importlib import metadata

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from tests.support.paths import ROOT


def _pins() -> dict[str, str]:
    pins = {}
    for line in (ROOT / "requirements.lock").read_text().splitlines():
        name, sep, version = line.partition("==")
        assert sep and name and version, f"not a pin: {line!r}"
        pins[canonicalize_name(name)] = version
    return pins


def _runtime() -> list[Requirement]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return [Requirement(r) for r in pyproject["project"]["dependencies"]]


def _applies(req: Requirement, extras: set[str]) -> bool:
    return req.marker is None or any(req.marker.evaluate({"extra": e}) for e in extras | {""})


def test_alembic_is_a_runtime_dependency_and_pinned_with_mako() -> None:
    assert "alembic" in {canonicalize_name(r.name) for r in _runtime()}
    pins = _pins()
    assert "alembic" in pins and "mako" in pins


def test_every_runtime_dependency_and_what_it_needs_is_pinned_within_its_range() -> None:
    pins = _pins()
    todo = [r for r in _runtime() if _applies(r, set())]
    seen: set[str] = set()
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is needed at run time but not in requirements.lock"
        assert req.specifier.contains(pins[name], prereleases=True), \
            f"{req.name}=={pins[name]} is outside {req.specifier}"
        if name in seen and not req.extras:
            continue
        seen.add(name)
        dist = metadata.distribution(name)
        assert dist.version == pins[name], f"the installed {name} is not the pinned one"
        todo += [r for r in map(Requirement, dist.requires or [])
                 if _applies(r, set(req.extras))]
