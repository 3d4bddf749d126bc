"""The audit trail of case records: every list, opening, export, note, deletion, restore and
grant, allowed or refused, is written with the account, the action, the record (or the account
a grant went to) and the time; never content, never anything of the visitor. An administrator
reads it in the console (page and JSON); counsellors, supervisors and strangers get 403."""

from __future__ import annotations

import itertools
from typing import Any

import aiohttp

from chatserver.records.accounts import Session
from tests.support.clients import random_ct
from tests.support.harness import Harness
from tests.support.records import box_keypair, file_record, registration, share_records_key

KEYS = {"id", "at", "user_id", "name", "pseudonym", "action", "record_id", "subject_id",
        "subject_name", "refused"}


async def get(h: Harness, path: str, session: Session | None) -> tuple[int, str]:
    cookies = {"ek_console": session.key} if session else {}
    async with aiohttp.ClientSession(cookies=cookies) as http, \
            http.get(h.url + path, allow_redirects=False) as resp:
        return resp.status, await resp.text()


async def audit(h: Harness, session: Session, query: str = "") -> list[dict[str, Any]]:
    cookies = {"ek_console": session.key}
    async with aiohttp.ClientSession(cookies=cookies) as http, \
            http.get(h.url + "/console/api/audit" + query) as resp:
        assert resp.status == 200, await resp.text()
        items: list[dict[str, Any]] = (await resp.json())["items"]
        return items


async def test_every_access_is_in_the_trail_which_only_an_administrator_reads(
        harness: Harness) -> None:
    h = harness
    boss = await h.console_session("boss", role="admin")
    anna = await h.counsellor("anna", "Anna")
    ben = await h.counsellor("ben", "Ben", on_duty=False)
    cora = await h.counsellor("cora", "Cora", on_duty=False)
    assert (await ben.call("records", {}))["error"] == "no_grant"
    records_sk = await share_records_key(anna, ben)
    filed = await file_record(h, anna)
    note = random_ct(60)
    assert (await ben.call("records", {}))["ok"]
    opened = (await ben.call("record_open", {"record_id": filed.record_id}))["record"]
    assert (await ben.call("record_open", {"record_id": filed.record_id, "export": True}))["ok"]
    assert (await ben.call("record_note", {"record_id": filed.record_id, "body": note}))["ok"]
    assert (await ben.call("record_delete", {"record_id": filed.record_id}))["error"] == \
        "forbidden"
    assert (await anna.call("record_delete", {"record_id": filed.record_id}))["ok"]
    assert (await anna.call("records_deleted", {}))["ok"]
    assert (await anna.call("record_restore", {"record_id": filed.record_id}))["ok"]
    assert (await cora.call("record_open", {"record_id": filed.record_id}))["error"] == \
        "no_grant"
    assert (await cora.call("keyring_register", registration(box_keypair()[1])))["ok"]
    assert (await cora.call("keyring_grant", {"user_id": "cora",
                                              "sealed": random_ct(80)}))["error"] == "forbidden"

    items = await audit(h, boss)
    assert all(set(item) == KEYS for item in items)
    rid = filed.record_id
    assert [(i["user_id"], i["action"], i["record_id"], i["subject_id"], i["refused"])
            for i in reversed(items)] == [
        ("ben", "list", None, None, True),
        ("anna", "init", None, "anna", False),
        ("anna", "grant", None, "ben", False),
        ("anna", "create", rid, None, False),
        ("ben", "list", None, None, False),
        ("ben", "open", rid, None, False),
        ("ben", "export", rid, None, False),
        ("ben", "note", rid, None, False),
        ("ben", "delete", rid, None, True),
        ("anna", "delete", rid, None, False),
        ("anna", "list_deleted", None, None, False),
        ("anna", "restore", rid, None, False),
        ("cora", "open", rid, None, True),
        ("cora", "grant", None, "cora", True),
    ]
    assert {(i["user_id"], i["name"], i["pseudonym"]) for i in items} == {
        ("anna", "anna", "Anna"), ("ben", "ben", "Ben"), ("cora", "cora", "Cora")}
    assert [i["subject_name"] for i in items if i["action"] == "grant"] == ["cora", "ben"]
    assert all(a["at"] >= b["at"] and a["id"] > b["id"] for a, b in itertools.pairwise(items))

    # Nothing of the record, the note, the keys or the visitor's codename is in it.
    status, page = await get(h, "/console/audit", boss)
    assert status == 200
    for text in (str(items), page):
        for secret in (opened["body"], opened["sealed_key"], note, records_sk.hex(),
                       filed.codename, *filed.codename.split()):
            assert secret not in text
    assert "verweigert" in page and "anna (Anna)" in page and rid in page

    # Pages of the trail: the newest first, then those before.
    newest = await audit(h, boss, "?limit=2")
    assert newest == items[:2]
    assert await audit(h, boss, f"?limit=3&before={newest[-1]['id']}") == items[2:5]
    for bad in ("?limit=0", "?limit=1001", "?limit=x", "?before=-3", "?before=1e3"):
        assert (await get(h, "/console/api/audit" + bad, boss))[0] == 400, bad
    # The console shows administrators the way there.
    assert 'href="/console/audit"' in (await get(h, "/console/", boss))[1]


async def test_counsellors_supervisors_and_strangers_are_refused_the_trail(
        harness: Harness) -> None:
    h = harness
    anna = await h.counsellor("anna", "Anna")
    await share_records_key(anna)
    await file_record(h, anna)
    counsellor = await h.console_session("dora", role="counsellor")
    supervisor = await h.console_session("erik", role="supervisor")
    for session in (counsellor, supervisor):
        for path in ("/console/api/audit", "/console/audit"):
            status, text = await get(h, path, session)
            assert status == 403 and "administrators" in text, (session.user.role, path)
            assert "anna" not in text
    assert 'href="/console/audit"' not in (await get(h, "/console/", counsellor))[1]
    assert (await get(h, "/console/api/audit", None))[0] == 403
    status, _ = await get(h, "/console/audit", None)
    assert status == 303  # to the login page
