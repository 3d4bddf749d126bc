"""Typed keys for what the application holds."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import socketio
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from chatserver.config import Config
from chatserver.records.accounts import Users
from chatserver.records.store import RecordStore
from chatserver.relay.relay import Relay
from chatserver.stats.counters import StatsStore

CONFIG = web.AppKey("config", Config)
SIO = web.AppKey("sio", socketio.AsyncServer)
RELAY = web.AppKey("relay", Relay)
RECORDS = web.AppKey("records", RecordStore)
USERS = web.AppKey("users", Users)
ENGINE = web.AppKey("engine", AsyncEngine)
STATS = web.AppKey("stats", StatsStore)
# The wall clock of relay and statistics (tests set a fake one before the app starts).
CLOCK: web.AppKey[Callable[[], float]] = web.AppKey("clock")
# Tells every console how many message threads await an answer (after the hourly purge).
WAITING: web.AppKey[Callable[[], Awaitable[None]]] = web.AppKey("waiting")
