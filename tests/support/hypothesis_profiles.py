"""Hypothesis profiles: ``quick`` (default) for ``make test``, ``soak`` for ``make soak``.

Choose with ``HYPOTHESIS_PROFILE=soak``; the fuzz tests wear ``@FUZZ``. They run against real
servers on real sockets, so examples are slow-ish and shared fixtures are intended (one
server, one healthy chat).
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, Phase, settings

_SHARED = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                           HealthCheck.data_too_large],
    print_blob=True,
)

# No shrinking in the quick profile: every example talks to a real server, and a failure
# should be reported in seconds; rerun it under ``soak`` to get the minimal example.
settings.register_profile("quick", _SHARED, max_examples=25,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.register_profile("soak", _SHARED, max_examples=1500)
# Applied per test (``@FUZZ``), not loaded globally: other suites keep their own settings.
FUZZ = settings.get_profile(os.environ.get("HYPOTHESIS_PROFILE", "quick"))


def scaled(default: int, soak: int) -> int:
    """A size for loops outside hypothesis (floods, restarts): bigger under ``make soak``."""
    return soak if os.environ.get("HYPOTHESIS_PROFILE") == "soak" else default
