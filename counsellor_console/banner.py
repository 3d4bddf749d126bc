"""The console's warning banner: the organisation's signed material lapsing, in German and
English. Widgets refuse an expired revocation list (every chat) or certificate (that account's
chats) without telling anyone; the banner tells the team 14 days ahead."""

from __future__ import annotations

import math
from datetime import datetime
from zoneinfo import ZoneInfo

from chatserver.admin.expiry import DAY_S, Expiry, Lapse

# (German, English): the console shows both, as it does everywhere.
Line = tuple[str, str]


def _in_days(at: float, now: float) -> Line:
    days = math.floor((at - now) / DAY_S)
    if days < 1:
        return "heute", "today"
    if days == 1:
        return "morgen", "tomorrow"
    return f"in {days} Tagen", f"in {days} days"


def _date(at: float, tz: ZoneInfo) -> Line:
    local = datetime.fromtimestamp(at, tz)
    return local.strftime("%d.%m.%Y %H:%M"), local.strftime("%Y-%m-%d %H:%M")


def lines(signed: Expiry, tz: ZoneInfo) -> list[Line]:
    """What the banner says, one line per lapse; empty when nothing lapses within 14 days."""
    out: list[Line] = []
    now, lapse_at = signed.now, signed.revocations_lapse_at
    if lapse_at is None:
        out.append(("Die Sperrliste fehlt oder ist nicht mit dem Organisationsschlüssel "
                    "signiert: Widgets lehnen jeden Chat ab.",
                    "The revocation list is missing or not signed by the organisation key: "
                    "widgets refuse every chat."))
    elif signed.revocations == Lapse.EXPIRED:
        de, en = _date(lapse_at, tz)
        out.append((f"Die Sperrliste ist seit {de} abgelaufen: Widgets lehnen jeden Chat ab.",
                    f"The revocation list expired on {en}: widgets refuse every chat."))
    elif signed.revocations == Lapse.EXPIRING:
        (de, en), (de_in, en_in) = _date(lapse_at, tz), _in_days(lapse_at, now)
        out.append((f"Die Sperrliste läuft {de_in} ab ({de}); danach lehnen Widgets jeden "
                    "Chat ab.",
                    f"The revocation list expires {en_in} ({en}); widgets then refuse every "
                    "chat."))
    expired = signed.certificate_ends(Lapse.EXPIRED)
    if expired:
        n, (de, en) = len(expired), _date(expired[0], tz)
        out.append((f"{n} {'Zertifikat ist' if n == 1 else 'Zertifikate sind'} abgelaufen "
                    f"(das erste am {de}): Widgets lehnen Chats mit "
                    f"{'diesem Konto' if n == 1 else 'diesen Konten'} ab.",
                    f"{n} {'certificate has' if n == 1 else 'certificates have'} expired "
                    f"(the first on {en}): widgets refuse chats with "
                    f"{'this account' if n == 1 else 'these accounts'}."))
    expiring = signed.certificate_ends(Lapse.EXPIRING)
    if expiring:
        n = len(expiring)
        (de, en), (de_in, en_in) = _date(expiring[0], tz), _in_days(expiring[0], now)
        out.append((f"{n} {'Zertifikat läuft' if n == 1 else 'Zertifikate laufen'} in den "
                    f"nächsten 14 Tagen ab, das erste {de_in} ({de}).",
                    f"{n} {'certificate expires' if n == 1 else 'certificates expire'} within "
                    f"14 days, the first {en_in} ({en})."))
    return out
