"""Accounts, case records, drops and the keyring behave the same on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from datetime import date
from zoneinfo import ZoneInfo

import nacl.pwhash
import pytest
import sqlalchemy as sa

from chatserver.config import Config
from chatserver.errors import DomainError
from chatserver.records.accounts import LoginRefused, Users
from chatserver.records.codenames import CodenameHasher
from chatserver.records.db import head_revision, migrate, open_engine
from chatserver.records.schema import record_entries
from chatserver.records.store import Keyring, RecordStore
from chatserver.records.throttle import Policy, SignInThrottle
from chatserver.stats.counters import StatsStore
from tests.support.database import pg_database, pg_url
from tests.support.harness import totp_of
from tests.support.records import give_grant

CHEAP = (nacl.pwhash.argon2id.OPSLIMIT_MIN, nacl.pwhash.argon2id.MEMLIMIT_MIN)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
async def config(request: pytest.FixtureRequest,
                 make_config: Callable[..., Config]) -> AsyncIterator[Config]:
    if request.param == "sqlite":
        yield make_config()
        return
    async with pg_database("ek_contract_") as name:
        yield make_config(database_url=pg_url(name))


async def test_accounts_records_drops_and_keyring(config: Config) -> None:
    engine = open_engine(config)
    try:
        assert await migrate(engine) == head_revision()
        assert await migrate(engine) == head_revision()  # a second run changes nothing
        # Quick delays, so that many failures can be tried without waiting for real.
        quick = SignInThrottle(Policy(free=3, base_s=0.01, cap_s=0.05),
                               Policy(free=5, base_s=0.01, cap_s=0.05))
        users = Users(engine, *CHEAP, throttle=quick)
        uri = await users.add("akeller", "counsellor", "ein-langes-passwort", "Anna")
        totp = totp_of(uri)
        now = 1_790_000_000.0
        session = await users.login("akeller", "ein-langes-passwort", totp.at(now), now)
        assert session.user.pseudonym == "Anna"
        anna = session.user.id
        with pytest.raises(LoginRefused):  # the same code twice
            await users.login("akeller", "ein-langes-passwort", totp.at(now), now + 1)
        assert (await users.session(session.key, now + 60)) is not None
        assert (await users.session(session.key, now + 60 + 31 * 60)) is None  # idle
        for _ in range(20):
            with pytest.raises(LoginRefused):
                await users.login("akeller", "falsch-falsch-falsch", totp.at(now + 90), now + 90)
        # Slowed down, never locked: the owner still gets in with password and code.
        again = await users.login("akeller", "ein-langes-passwort", totp.at(now + 90), now + 90)
        assert again.user.id == anna
        assert list(await users.live_sessions([again.ref, "f" * 64], now + 91)) == [again.ref]
        assert await users.live_sessions([again.ref], now + 91 + 31 * 60) == {}  # idle
        assert await users.live_sessions([again.ref], now + 13 * 3600) == {}  # past its cap

        store = RecordStore(engine, CodenameHasher(b"s" * 16, *CHEAP), 100.0, 50.0)
        record_id, codename = await store.create("anna", "v1", "S0VZ", "Qk9EWQ==", now)
        await give_grant(engine, "ben")
        opened = await store.open(record_id, "ben", now + 1)
        assert opened["body"] == "Qk9EWQ==" and opened["sealed_key"] == "S0VZ"
        await store.add_note(record_id, "ben", "Tk9URQ==", now + 2)
        first = await store.append(record_id, "ben", "TElORTE=", now + 3)
        assert await store.append(record_id, "ben", "TElORTI=", now + 3) > first
        entries = (await store.open(record_id, "ben", now + 4))["entries"]
        assert [e["body"] for e in entries] == ["TElORTE=", "TElORTI="]
        assert (await store.find(codename)) is not None
        assert [a["action"] for a in await store.audit_trail(record_id)] == \
            ["create", "open", "note", "append", "append", "open"]
        with pytest.raises(DomainError):
            await store.add_note("nosuchrecord00", "ben", "Tk9URQ==", now)
        await store.create_drop("TE9PS1VQ" * 5 + "TE9=", "S0VZ", "RFJPUA==", "UEs=", now)
        assert len(await store.list_drops()) == 1
        assert await store.purge(now + 1000) == 2  # the record and the drop expired
        assert await store.list_records("ben", now + 1000) == []
        assert await store.list_drops() == []
        assert (await store.audit_trail(record_id))[-1]["action"] == "expire"
        async with engine.connect() as conn:  # its later entries went with it
            assert (await conn.execute(sa.select(sa.func.count())
                                       .select_from(record_entries))).scalar_one() == 0
        # Without his grant Ben lists and opens nothing any more (not even learning whether a
        # record exists), and the tries are in the trail.
        async with engine.begin() as conn:
            await Keyring.revoke(conn, "ben", now + 1001)
        for refused in (store.list_records("ben", now + 1002),
                        store.open("x" * 64, "ben", now + 1002),
                        store.open(record_id, "ben", now + 1002)):
            with pytest.raises(DomainError) as no_grant:
                await refused
            assert no_grant.value.code == "no_grant"
        assert [(e.user_id, e.action, e.record_id, e.subject_id, e.refused)
                for e in await store.audit_log(4)] == [
            ("ben", "open", record_id, None, True), ("ben", "open", "x" * 64, None, True),
            ("ben", "list", None, None, True), ("operator", "revoke", None, "ben", False)]

        cert = {"v": 1, "key": "SUQ=", "pseudonym": "Anna", "issued": 1, "expires": 2,
                "serial": "00" * 16, "sig": "U0lH"}
        await store.keyring.register(anna, "UEtB", "Qk9YU0lH", cert)
        assert (await store.keyring.status(anna))["pending"] == [{
            "user_id": anna, "pseudonym": "Anna", "box_pk": "UEtB", "box_sig": "Qk9YU0lH",
            "certificate": cert}]
        await store.keyring.init(anna, "UlBL", "R1JBTlQ=", now)
        assert await store.keyring.records_public_key() == "UlBL"
        assert await store.keyring.records_key() == ("UlBL", None)
        assert await store.keyring.holders() == [anna]
        # The same box key with a renewed certificate keeps the grant.
        await store.keyring.register(anna, "UEtB", "Qk9YU0lH", {**cert, "expires": 3})
        assert await store.keyring.holders() == [anna]
        # The records key's certificate is installed only for the key the team has.
        with pytest.raises(DomainError) as refused:
            await store.keyring.set_records_certificate({"records_pk": "T1RIRVI="})
        assert refused.value.code == "conflict"
        await store.keyring.set_records_certificate({"records_pk": "UlBL", "sig": "U0lH"})
        assert (await store.keyring.status(anna))["records_cert"] == {"records_pk": "UlBL",
                                                                     "sig": "U0lH"}

        # Disabling takes it all away at once: sessions, the grant, and the way back onto
        # the list of those waiting for one.
        live = await users.login("akeller", "ein-langes-passwort", totp.at(now + 150),
                                 now + 150)
        assert await users.set_disabled("akeller", True) == anna
        assert await users.live_sessions([live.ref], now + 151) == {}
        assert await users.session(live.key, now + 151) is None
        assert await store.keyring.holders() == []
        with pytest.raises(DomainError) as refused:
            await store.keyring.register(anna, "UEtB", "Qk9YU0lH", cert)
        assert refused.value.code == "forbidden"
        assert (await store.keyring.status(anna))["me"] is None
        await users.set_disabled("akeller", False)
        with pytest.raises(ValueError, match="12 characters"):
            await users.reset("akeller", "kurz")
        await users.reset("akeller", "ein-anderes-passwort")
        with pytest.raises(ValueError, match="pseudonym"):
            await users.add("bschmidt", "counsellor", "ein-langes-passwort", " BSchmidt ")
        with pytest.raises(ValueError, match="pseudonym"):
            await users.add("bschmidt", "counsellor", "ein-langes-passwort", "")
    finally:
        await engine.dispose()


async def test_statistics_counters_add_up_per_day_and_hour_of_week(config: Config) -> None:
    engine = open_engine(config)
    try:
        await migrate(engine)
        store = StatsStore(engine, ZoneInfo("Europe/Berlin"))
        # 22 h UTC on Sunday 25 Oct 2026 is 23 h in Berlin (winter time began at 3 h).
        hour = {"2026102522": {"requested|exit|de": 2, "accepted|exit|de|0-1": 1}}
        await store.add(hour)
        await store.add(hour)  # a second roll-up of the same counts adds, never overwrites
        await store.add({"2026102600": {"requested|exit|de": 1, "ended|exit|de|0-5": 0}})
        days = await store.daily(date(2026, 10, 25), date(2026, 10, 26))
        assert days[date(2026, 10, 25)] == {"requested|exit|de": 4, "accepted|exit|de|0-1": 2}
        assert days[date(2026, 10, 26)] == {"requested|exit|de": 1}
        profile = await store.weekly([date(2026, 10, 19), date(2026, 10, 26)], "requested")
        assert profile == {6 * 24 + 23: 4, 0 * 24 + 1: 1}
        assert await store.weekly([], "requested") == {}
    finally:
        await engine.dispose()
