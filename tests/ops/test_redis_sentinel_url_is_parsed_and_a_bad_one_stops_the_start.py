"""``CHATSERVER_REDIS_URL`` names one Redis or, as ``redis+sentinel://``, the sentinels that name
the primary (docs/operations.md). A Sentinel URL is read once, at start; a bad one stops the
node with an error that names the setting and the expected form, and never repeats the URL (it
may hold Redis's password).
"""

from __future__ import annotations

import pytest

from chatserver.config import (
    SENTINEL_FORM,
    ConfigError,
    SentinelTarget,
    load_config,
    parse_sentinel_url,
)


@pytest.mark.parametrize(("url", "target"), [
    ("redis+sentinel://redis-a:26379,redis-b:26379,redis-c:26379/erstkontakt",
     SentinelTarget((("redis-a", 26379), ("redis-b", 26379), ("redis-c", 26379)),
                    "erstkontakt")),
    ("redis+sentinel://:p%40ss:w0rd@127.0.0.1:26379,[::1]:26380/ek-test.1/3",
     SentinelTarget((("127.0.0.1", 26379), ("::1", 26380)), "ek-test.1", 3, "", "p@ss:w0rd")),
    ("redis+sentinel://relay:secret@h:1/mymaster/0",
     SentinelTarget((("h", 1),), "mymaster", 0, "relay", "secret")),
])
def test_a_sentinel_url_names_sentinels_service_database_and_credentials(
    url: str, target: SentinelTarget
) -> None:
    assert parse_sentinel_url(url) == target
    assert load_config({"CHATSERVER_REDIS_URL": url}).uses_redis


@pytest.mark.parametrize("url", [
    "redis+sentinel://:hunter2secret@redis-a/erstkontakt",          # no port
    "redis+sentinel://:hunter2secret@redis-a:26379",                # no service
    "redis+sentinel://:hunter2secret@redis-a:26379/",               # empty service
    "redis+sentinel://hunter2secret@redis-a:26379/erstkontakt",     # password without colon
    "redis+sentinel://:hunter2secret@redis-a:26379/erstkontakt/x",  # database not a number
    "redis+sentinel://:hunter2secret@redis-a:26379/erstkontakt/0/1",
    "redis+sentinel://:hunter2secret@redis-a:26379,/erstkontakt",   # empty sentinel
    "redis+sentinel://:hunter2secret@redis-a:0/erstkontakt",        # port out of range
    "redis+sentinel://:hunter2secret@redis-a:26379/erst kontakt",
    "redis+sentinel://:hunter2secret@redis-a:26379/erstkontakt?db=1",
])
def test_a_bad_sentinel_url_stops_the_start_naming_the_setting_not_the_password(
    url: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config({"CHATSERVER_REDIS_URL": url})
    message = str(caught.value)
    assert message.startswith("CHATSERVER_REDIS_URL: ") and SENTINEL_FORM in message, message
    assert "hunter2secret" not in message and "redis-a" not in message, message


def test_an_unknown_scheme_names_every_form_the_setting_takes() -> None:
    with pytest.raises(ConfigError, match=r"redis://, rediss://, unix:// or redis\+sentinel://"):
        load_config({"CHATSERVER_REDIS_URL": "sentinel://redis-a:26379/erstkontakt"})
