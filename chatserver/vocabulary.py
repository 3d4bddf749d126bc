"""Names the whole server shares, each defined once: roles, entry types, languages, directions.

Statistics counters and metric labels are built only from these fixed sets, so no client-made
text can ever become a counter name or a label.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Literal


class Role(StrEnum):
    """What a console account may do."""

    COUNSELLOR = "counsellor"
    SUPERVISOR = "supervisor"
    ADMIN = "admin"


# Roles that chat (and so may hold a socket token), roles that see the statistics, and the
# role that reads the audit trail of case records and grants.
COUNSELLOR_ROLES = frozenset({Role.COUNSELLOR, Role.ADMIN})
STATS_ROLES = frozenset({Role.SUPERVISOR, Role.ADMIN})
AUDIT_ROLES = frozenset({Role.ADMIN})


class Entry(StrEnum):
    """Why a visitor opens a chat; ``return`` is a codename return after a hand-off."""

    EXIT = "exit"
    RELATIVE = "relative"
    PROFESSIONAL = "professional"
    RETURN = "return"


class Lang(StrEnum):
    """The languages of the widget and the console."""

    DE = "de"
    EN = "en"


# Which way an envelope travels: visitor to counsellor, or counsellor to visitor.
Direction = Literal["v2c", "c2v"]
DIRECTIONS: tuple[Direction, ...] = ("v2c", "c2v")
