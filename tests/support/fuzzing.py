"""Hypothesis profiles and the strategies the fuzz tests share. Profiles: ``quick`` (default)
for ``make test``, ``soak`` for ``make soak``.

Choose with ``HYPOTHESIS_PROFILE=soak``; the fuzz tests wear ``@FUZZ``. They run against real
servers on real sockets, so examples are slow-ish and shared fixtures are intended (one
server, one healthy chat).
"""

from __future__ import annotations

import os
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st

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

# Delivery under faults (``@FAULTS``): each example is a whole chat through refusals, lost
# connections or killed processes, so a handful per run; ``make soak`` runs many more.
settings.register_profile("faults-quick", _SHARED, max_examples=6,
                          phases=[Phase.explicit, Phase.reuse, Phase.generate])
settings.register_profile("faults-soak", _SHARED, max_examples=150)
FAULTS = settings.get_profile(
    "faults-soak" if os.environ.get("HYPOTHESIS_PROFILE") == "soak" else "faults-quick")


def scaled(default: int, soak: int) -> int:
    """A size for loops outside hypothesis (floods, restarts): bigger under ``make soak``."""
    return soak if os.environ.get("HYPOTHESIS_PROFILE") == "soak" else default


def json_scalars(mark: str, text: int = 20) -> st.SearchStrategy[Any]:
    """JSON's scalars, short strings, and ``mark`` (a text the logs must never show)."""
    return (st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=text)
            | st.just(mark))


def json_values(leaves: st.SearchStrategy[Any], keys: int = 8,
                max_leaves: int = 12) -> st.SearchStrategy[Any]:
    """Any JSON value: ``leaves`` nested in lists and objects (with keys up to ``keys``)."""
    return st.recursive(
        leaves,
        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=keys), kids,
                                                                  max_size=4),
        max_leaves=max_leaves,
    )
