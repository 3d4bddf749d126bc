"""Typed keys for what the application holds."""

from __future__ import annotations

import socketio
from aiohttp import web

from chatserver.config import Config
from chatserver.records import RecordStore
from chatserver.relay import Relay
from chatserver.state import State
from chatserver.users import Users

CONFIG = web.AppKey("config", Config)
STATE = web.AppKey("state", State)
SIO = web.AppKey("sio", socketio.AsyncServer)
RELAY = web.AppKey("relay", Relay)
RECORDS = web.AppKey("records", RecordStore)
USERS = web.AppKey("users", Users)
