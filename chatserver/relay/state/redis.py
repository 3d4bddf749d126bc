"""Redis state for scale-out: every node sees the same queue, roster, chats and buffers.

Multi-key changes run as Lua scripts so that two nodes can never both claim a chat or
both accept the same sequence number. Keys carry a prefix so one Redis can serve several
installations; everything expires on its own if all nodes vanish.

Every call has a deadline and only calls that are safe to repeat are repeated (see
``RedisState``).
"""

from __future__ import annotations

import itertools
import json
import secrets
from collections.abc import Sequence
from typing import Any, cast

import redis.asyncio as aioredis

from chatserver.errors import DomainError, ErrorCode
from chatserver.relay.state import (
    MAX_LOST,
    NOT_YOURS,
    QUEUED,
    URGENT_LEAD_S,
    AppendResult,
    Chat,
    Direction,
    DutyEntry,
    Envelope,
    Identity,
    Receipt,
    Release,
)
from chatserver.relay.state.redispool import TIMEOUT_S, Together, connect, pool_options

_CREATE = """
if redis.call('ZCARD', KEYS[2]) >= tonumber(ARGV[2]) then return 0 end
redis.call('HSET', KEYS[1], 'entry', ARGV[3], 'lang', ARGV[4], 'requested_at', ARGV[5],
  'counsellor_id', '', 'pseudonym', '', 'accepted_at', '0', 'left_at', '0',
  'resume', ARGV[6], 'seq_v2c', '0', 'seq_c2v', '0', 'consent', '',
  'record_id', ARGV[8], 'preferred', ARGV[9], 'urgent', ARGV[10])
redis.call('EXPIRE', KEYS[1], ARGV[7])
redis.call('SET', KEYS[3], ARGV[1], 'EX', ARGV[7])
redis.call('ZADD', KEYS[2], ARGV[11], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
local place = redis.call('ZRANK', KEYS[2], ARGV[1]) + 1
redis.call('HSET', KEYS[1], 'place', place)
return place
"""

_PRESENT = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
if ARGV[2] == '1' then
  redis.call('HSET', KEYS[1], 'left_at', '0')
  redis.call('ZREM', KEYS[2], ARGV[1])
else
  redis.call('HSET', KEYS[1], 'left_at', ARGV[3])
  redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
end
return 1
"""

_CLAIM = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'not_found' end
if redis.call('HGET', KEYS[1], 'counsellor_id') ~= '' then return 'taken' end
if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[4]) then return 'limit' end
redis.call('ZREM', KEYS[2], ARGV[1])
local accepted = redis.call('HGET', KEYS[1], 'accepted_at')
if tonumber(accepted) == 0 then accepted = ARGV[5] end
redis.call('HSET', KEYS[1], 'counsellor_id', ARGV[2], 'pseudonym', ARGV[3], 'accepted_at', accepted)
redis.call('SADD', KEYS[3], ARGV[1])
redis.call('ZADD', KEYS[4], ARGV[5], ARGV[1])
return 'ok'
"""

# Receipts: the chat hash keeps 'ack_<direction>' (how far the receiver acknowledged) and
# 'lost_<direction>' (the most recent lost seqs, comma-separated, oldest first). Sequence
# numbers stay strings here: Lua numbers are doubles and would print large ones as 1e+15.
_KEEP_LOST = """
local function keep_lost(lost, fresh, cap)
  local all = {}
  for s in string.gmatch(lost, '%d+') do table.insert(all, s) end
  for _, s in ipairs(fresh) do table.insert(all, s) end
  return table.concat(all, ',', math.max(1, #all - cap + 1), #all)
end
"""

# A counsellor lets a chat go (transfer, release): the visitor's unacknowledged envelopes were
# encrypted for them and are dropped, and reported lost; the v2c receipt moves up to the last
# accepted seq.
_DROP_FOR_LEAVER = _KEEP_LOST + """
local function drop_for_leaver(chat, buf, cap)
  local last = redis.call('HGET', chat, 'seq_v2c')
  local mark = tonumber(redis.call('HGET', chat, 'ack_v2c') or '0')
  if last and tonumber(last) > mark then
    local fresh = {}
    for _, item in ipairs(redis.call('LRANGE', buf, 0, -1)) do
      local s = string.match(item, '^(%d+)|')
      if tonumber(s) > mark then table.insert(fresh, s) end
    end
    local lost = redis.call('HGET', chat, 'lost_v2c') or ''
    redis.call('HSET', chat, 'ack_v2c', last, 'lost_v2c', keep_lost(lost, fresh, cap))
  end
  redis.call('DEL', buf)
end
"""

_REASSIGN = _DROP_FOR_LEAVER + """
if redis.call('EXISTS', KEYS[1]) == 0 then return 'not_found' end
if redis.call('HGET', KEYS[1], 'counsellor_id') ~= ARGV[2] then return 'forbidden' end
if redis.call('SCARD', KEYS[3]) >= tonumber(ARGV[5]) then return 'limit' end
redis.call('HSET', KEYS[1], 'counsellor_id', ARGV[3], 'pseudonym', ARGV[4])
redis.call('SREM', KEYS[2], ARGV[1])
redis.call('SADD', KEYS[3], ARGV[1])
drop_for_leaver(KEYS[1], KEYS[4], tonumber(ARGV[6]))
return 'ok'
"""

# ARGV[3]: how many milliseconds a codename not yet acknowledged stays parked (0: not at all).
_END = """
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local fields = redis.call('HGETALL', KEYS[1])
local resume = redis.call('HGET', KEYS[1], 'resume')
local cid = redis.call('HGET', KEYS[1], 'counsellor_id')
local codename = redis.call('HGET', KEYS[1], 'codename')
redis.call('DEL', KEYS[1], KEYS[5], KEYS[6], ARGV[2] .. 'resume:' .. resume)
if codename and codename ~= '' and tonumber(ARGV[3]) > 0 then
  redis.call('SET', ARGV[2] .. 'parked:' .. resume, codename, 'PX', ARGV[3])
end
redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('ZREM', KEYS[4], ARGV[1])
if cid ~= '' then redis.call('SREM', ARGV[2] .. 'cc:' .. cid, ARGV[1]) end
return fields
"""

# The holder check of append_held / ack_held: ARGV[1] is '-' for none, '' for "held by
# anyone", or the counsellor id that must hold the chat. Answers {refusal or '', holder}.
_HOLDER = """
local cid = redis.call('HGET', KEYS[1], 'counsellor_id')
if not cid then return {'not_found', ''} end
"""

_HELD = """
if ARGV[1] ~= '-' then
  if cid == '' then return {'bad_state', ''} end
  if ARGV[1] ~= '' and cid ~= ARGV[1] then return {'forbidden', ''} end
end
"""

# ARGV[9] names the field that keeps the id of the last call that appended in this
# direction and ARGV[10] is this call's id: the same call sent again after its reply was lost
# answers 'ok' again, as the first time, instead of 'dup' (which would keep the envelope from
# being relayed). A client's resend is a new call and still answers 'dup'.
_APPEND = _HOLDER + """
if redis.call('HGET', KEYS[1], ARGV[9]) == ARGV[10] then return {'ok', cid} end
""" + _HELD + """
local last = tonumber(redis.call('HGET', KEYS[1], ARGV[2]))
local seq = tonumber(ARGV[3])
if seq <= last then return {'dup', cid} end
if seq ~= last + 1 then return {'bad_seq:' .. tostring(last + 1), cid} end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3], ARGV[9], ARGV[10])
redis.call('RPUSH', KEYS[2], ARGV[3] .. '|' .. ARGV[4] .. '|' .. ARGV[5])
redis.call('PEXPIRE', KEYS[2], ARGV[6])
redis.call('ZADD', KEYS[3], ARGV[7], ARGV[8])
return {'ok', cid}
"""

# ARGV: holder, upto, direction, lost seqs (comma-separated), MAX_LOST. Raises the receipt
# (never lowers it, never past the last accepted seq) and drops what it covers from the
# buffer. Answers {'', holder, receipt upto, receipt lost}.
_ACK_HELD = _KEEP_LOST + _HOLDER + _HELD + """
local dir = ARGV[3]
local mark_s = redis.call('HGET', KEYS[1], 'ack_' .. dir) or '0'
local mark = tonumber(mark_s)
local lost = redis.call('HGET', KEYS[1], 'lost_' .. dir) or ''
local last = redis.call('HGET', KEYS[1], 'seq_' .. dir)
local upto = ARGV[2]
if tonumber(upto) > tonumber(last) then upto = last end
if tonumber(upto) > mark then
  local seen, fresh = {}, {}
  for s in string.gmatch(ARGV[4], '%d+') do
    local n = tonumber(s)
    if n > mark and n <= tonumber(upto) and not seen[n] then
      seen[n] = true
      table.insert(fresh, s)
    end
  end
  table.sort(fresh, function(a, b) return tonumber(a) < tonumber(b) end)
  lost = keep_lost(lost, fresh, tonumber(ARGV[5]))
  mark_s, mark = upto, tonumber(upto)
  redis.call('HSET', KEYS[1], 'ack_' .. dir, upto, 'lost_' .. dir, lost)
end
while true do
  local head = redis.call('LINDEX', KEYS[2], 0)
  if not head then break end
  local seq = tonumber(string.match(head, '^(%d+)|'))
  if seq > mark then break end
  redis.call('LPOP', KEYS[2])
end
return {'', cid, mark_s, lost}
"""

_SET_CODENAME = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'codename', ARGV[1]) end
return 0
"""

_CLEAR_CODENAME = """
if redis.call('HGET', KEYS[1], 'codename') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'codename', '')
end
return 0
"""

_CONSENT = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'consent', ARGV[1]) end
return 0
"""

_LINK_RECORD = """
if redis.call('EXISTS', KEYS[1]) == 1 then redis.call('HSET', KEYS[1], 'record_id', ARGV[1]) end
return 0
"""

# On-duty counsellors not seen since ARGV[1] (one without any presence is seen from ARGV[3]
# on), then the unseen who hold chats without being on duty; the unseen who hold nothing are
# forgotten.
_LAPSED = """
local out = {}
for _, id in ipairs(redis.call('HKEYS', KEYS[1])) do
  local seen = redis.call('ZSCORE', KEYS[2], id)
  if not seen then
    redis.call('ZADD', KEYS[2], ARGV[3], id)
  elseif tonumber(seen) < tonumber(ARGV[1]) then
    table.insert(out, id)
  end
end
for _, id in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1])) do
  if redis.call('HEXISTS', KEYS[1], id) == 0 then
    if redis.call('SCARD', ARGV[2] .. 'cc:' .. id) > 0 then
      table.insert(out, id)
    else
      redis.call('ZREM', KEYS[2], id)
    end
  end
end
return out
"""

# Off duty, chats back to the front of the queue (oldest request first), reservations for
# this counsellor dropped. ARGV[3] is '' to release unconditionally (sign-out), or a time:
# only if not seen since then; ARGV[5] is MAX_LOST; ARGV[6] is URGENT_LEAD_S (ahead of urgent
# requests, too). Answers nil (seen since) or {was on duty,
# {id, fields, ...} of the requeued chats as they are now, unreserved ids}.
_RELEASE = _DROP_FOR_LEAVER + """
if ARGV[3] ~= '' then
  local seen = redis.call('ZSCORE', KEYS[2], ARGV[1])
  if seen and tonumber(seen) >= tonumber(ARGV[3]) then return nil end
end
local was = redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('ZREM', KEYS[2], ARGV[1])
local held = {}
for _, cid in ipairs(redis.call('SMEMBERS', KEYS[3])) do
  local at = redis.call('HGET', ARGV[4] .. 'chat:' .. cid, 'requested_at')
  if at then table.insert(held, {cid, tonumber(at)}) end
end
table.sort(held, function(a, b) return a[2] < b[2] end)
local front = tonumber(ARGV[2]) - tonumber(ARGV[6])
local first = redis.call('ZRANGE', KEYS[4], 0, 0, 'WITHSCORES')
if first[2] and tonumber(first[2]) < front then front = tonumber(first[2]) end
local requeued = {}
for i, item in ipairs(held) do
  local cid = item[1]
  redis.call('HSET', ARGV[4] .. 'chat:' .. cid, 'counsellor_id', '', 'pseudonym', '',
    'preferred', '', 'requested_at', ARGV[2], 'place', i)
  drop_for_leaver(ARGV[4] .. 'chat:' .. cid, ARGV[4] .. 'buf:' .. cid .. ':v2c',
                  tonumber(ARGV[5]))
  redis.call('ZADD', KEYS[4], front - (#held - i + 1), cid)
  redis.call('ZADD', KEYS[5], ARGV[2], cid)
  table.insert(requeued, cid)
  table.insert(requeued, redis.call('HGETALL', ARGV[4] .. 'chat:' .. cid))
end
redis.call('DEL', KEYS[3])
local unreserved = {}
for _, qid in ipairs(redis.call('ZRANGE', KEYS[4], 0, -1)) do
  local key = ARGV[4] .. 'chat:' .. qid
  if redis.call('HGET', key, 'preferred') == ARGV[1] then
    redis.call('HSET', key, 'preferred', '')
    table.insert(unreserved, qid)
  end
end
return {was, requeued, unreserved}
"""

_ADD_WAIT = """
local avg = redis.call('GET', KEYS[1])
local sample = tonumber(ARGV[1])
if avg then sample = tonumber(avg) + tonumber(ARGV[2]) * (sample - tonumber(avg)) end
redis.call('SET', KEYS[1], string.format('%.17g', sample), 'EX', ARGV[3])
return 0
"""

_TAKE_STATS = """
local out = {}
for _, hour in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1])) do
  local key = ARGV[2] .. hour
  table.insert(out, hour)
  table.insert(out, redis.call('HGETALL', key))
  redis.call('DEL', key)
  redis.call('ZREM', KEYS[1], hour)
end
return out
"""


def _str(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _receipt(mark: str, lost: str) -> Receipt:
    return Receipt(int(mark), tuple(int(x) for x in lost.split(",") if x))


def _raise_refusal(code: str) -> None:
    """Turn a refusal of the holder check (``_HELD``) into its DomainError."""
    if code == "not_found":
        raise DomainError(ErrorCode.NOT_FOUND, "No such chat.")
    if code == "bad_state":
        raise DomainError(ErrorCode.BAD_STATE, QUEUED)
    if code == "forbidden":
        raise DomainError(ErrorCode.FORBIDDEN, NOT_YOURS)


MAX_CONNECTIONS = 64


class RedisState:
    """The :class:`~chatserver.relay.state.State` contract on one Redis server.

    Which calls are repeated after a lost connection or a missed deadline (``_retried``, and
    ``_hot`` for the two scripts of every message), and which are sent once (``_once``): a lost
    reply does not say whether Redis ran the command, so only a command whose repeat leaves the
    same state and gives the same answer is repeated. Repeated: every read; deleting tokens;
    storing a token under its own random key; dropping acknowledged envelopes and raising the
    receipt (``ack``, ``ack_held``: a repeat finds the receipt raised and changes nothing);
    forgetting an acknowledged codename (compared first); linking a chat to its record (the same
    id again); noting when counsellors were seen (it only ever moves forward); and
    ``append``/``append_held``, whose script recognises its own call id and answers a repeat as
    it answered the first time. Sent once, because a repeat could answer differently or undo a
    newer write: creating, claiming, transferring and ending chats (a repeat would answer
    "full", "taken", "not yours" or "already ended"), finding and releasing lapsed counsellors
    (a repeat would find nothing left to release), presence, duty, consent, activity and keeping
    a codename (a late repeat could overwrite a newer value), and the statistics counters and the
    wait average (a repeat would count twice). Such a call fails with the connection's error; it
    may or may not have taken effect.
    """

    def __init__(self, url: str, prefix: str = "ek:", safety_ttl_s: int = 86400,
                 timeout_s: float = TIMEOUT_S) -> None:
        # Blocking pools: under a burst, commands wait their turn for a connection (up to the
        # deadline) instead of failing at once.
        def client(retries: int) -> aioredis.Redis:
            return connect(url, wait_s=timeout_s, decode_responses=True,
                           max_connections=MAX_CONNECTIONS, **pool_options(timeout_s, retries))

        self._once = client(0)
        self._retried = client(1)
        self._p = prefix
        self._safety_ttl = safety_ttl_s
        once, retried = self._once.register_script, self._retried.register_script
        self._create = once(_CREATE)
        self._claim = once(_CLAIM)
        self._reassign = once(_REASSIGN)
        self._end = once(_END)
        self._present = once(_PRESENT)
        self._consent = once(_CONSENT)
        # A chat is linked to one record, once: a repeat writes the same id again.
        self._link_record = retried(_LINK_RECORD)
        self._set_codename = once(_SET_CODENAME)
        self._clear_codename = retried(_CLEAR_CODENAME)
        self._take_stats = once(_TAKE_STATS)
        # A repeat of these could answer differently, or count a wait twice.
        self._lapsed = once(_LAPSED)
        self._release = once(_RELEASE)
        self._add_wait = once(_ADD_WAIT)
        self._append = retried(_APPEND)
        self._ack_held = retried(_ACK_HELD)
        # The two scripts of every message, on a connection of their own and grouped under
        # load (both are safe to repeat).
        self._hot = Together(url, decode_responses=True, **pool_options(timeout_s, retries=1))
        # Call ids of appends: unique per node and call, never reused after a restart.
        self._node = secrets.token_hex(6)
        self._calls = itertools.count()

    async def ping(self) -> bool:
        """True when Redis answers."""
        return bool(await self._retried.ping())

    async def close(self) -> None:
        await self._hot.close()
        await self._once.aclose()
        await self._retried.aclose()

    def _k(self, *parts: str) -> str:
        return self._p + ":".join(parts)

    async def put_token(self, key: str, identity: Identity, ttl: float) -> None:
        data = json.dumps({"id": identity.id, "pseudonym": identity.pseudonym,
                           "role": identity.role, "session": identity.session})
        async with self._retried.pipeline(transaction=True) as pipe:
            pipe.set(self._k("tok", key), data, px=int(ttl * 1000))
            pipe.sadd(self._k("toks", identity.id), key)
            pipe.expire(self._k("toks", identity.id), int(ttl) + 1)
            await pipe.execute()

    async def get_token(self, key: str) -> Identity | None:
        raw = await self._retried.get(self._k("tok", key))
        if raw is None:
            return None
        data = json.loads(raw)
        # A token from before sessions were recorded has none, and is refused by the edge.
        return Identity(data["id"], data["pseudonym"], data["role"], data.get("session", ""))

    async def drop_token(self, key: str) -> None:
        await self._retried.delete(self._k("tok", key))

    async def drop_tokens_of(self, counsellor_id: str) -> None:
        keys = [_str(k) for k in await self._retried.smembers(self._k("toks", counsellor_id))]
        if keys:
            await self._retried.delete(*[self._k("tok", k) for k in keys])
        await self._retried.delete(self._k("toks", counsellor_id))

    async def create_chat(self, chat: Chat, resume_key: str, cap: int) -> int:
        position = await self._create(
            keys=[self._k("chat", chat.id), self._k("queue"), self._k("resume", resume_key),
                  self._k("activity")],
            args=[chat.id, cap, chat.entry, chat.lang, repr(chat.requested_at), resume_key,
                  self._safety_ttl, chat.record_id, chat.preferred, "1" if chat.urgent else "",
                  repr(chat.requested_at - (URGENT_LEAD_S if chat.urgent else 0.0))],
        )
        if not position:
            raise DomainError(ErrorCode.QUEUE_FULL, "The queue is full.")
        return int(position)

    def _chat(self, chat_id: str, h: dict[str, str]) -> Chat:
        return Chat(
            id=chat_id,
            entry=h["entry"],
            lang=h["lang"],
            requested_at=float(h["requested_at"]),
            counsellor_id=h["counsellor_id"],
            pseudonym=h["pseudonym"],
            accepted_at=float(h["accepted_at"]),
            visitor_left_at=float(h["left_at"]),
            consent=h.get("consent", ""),
            record_id=h.get("record_id", ""),
            preferred=h.get("preferred", ""),
            place=int(h.get("place", "0")),
            urgent=bool(h.get("urgent", "")),
        )

    async def get_chat(self, chat_id: str) -> Chat | None:
        h = await self._retried.hgetall(self._k("chat", chat_id))
        return self._chat(chat_id, {_str(k): _str(v) for k, v in h.items()}) if h else None

    async def chat_by_resume(self, resume_key: str) -> str | None:
        return cast("str | None", await self._retried.get(self._k("resume", resume_key)))

    async def queued(self) -> list[Chat]:
        ids = [_str(x) for x in await self._retried.zrange(self._k("queue"), 0, -1)]
        if not ids:
            return []
        async with self._retried.pipeline(transaction=False) as pipe:
            for cid in ids:
                pipe.hgetall(self._k("chat", cid))
            rows = await pipe.execute()
        return [
            self._chat(cid, {_str(k): _str(v) for k, v in h.items()})
            for cid, h in zip(ids, rows, strict=True)
            if h
        ]

    async def _chat_or_raise(self, chat_id: str) -> Chat:
        chat = await self.get_chat(chat_id)
        if chat is None:
            raise DomainError(ErrorCode.NOT_FOUND, "No such chat.")
        return chat

    async def claim(self, chat_id: str, who: Identity, max_chats: int, now: float) -> Chat:
        res = await self._claim(
            keys=[self._k("chat", chat_id), self._k("queue"), self._k("cc", who.id),
                  self._k("activity")],
            args=[chat_id, who.id, who.pseudonym, max_chats, repr(now)],
        )
        messages = {
            "not_found": "No such chat.",
            "taken": "Another counsellor has taken this chat.",
            "limit": "You already hold the maximum number of chats.",
        }
        if res != "ok":
            raise DomainError(ErrorCode(res), messages[res])
        return await self._chat_or_raise(chat_id)

    async def reassign(self, chat_id: str, frm: str, to: Identity, max_chats: int) -> Chat:
        res = await self._reassign(
            keys=[self._k("chat", chat_id), self._k("cc", frm), self._k("cc", to.id),
                  self._k("buf", chat_id, "v2c")],
            args=[chat_id, frm, to.id, to.pseudonym, max_chats, MAX_LOST],
        )
        messages = {
            "not_found": "No such chat.",
            "forbidden": "This chat is not yours.",
            "limit": "That colleague already holds the maximum number of chats.",
        }
        if res != "ok":
            raise DomainError(ErrorCode(res), messages[res])
        return await self._chat_or_raise(chat_id)

    async def end_chat(self, chat_id: str, keep_codename_s: float = 0.0) -> Chat | None:
        res = await self._end(
            keys=[self._k("chat", chat_id), self._k("queue"), self._k("left"),
                  self._k("activity"), self._k("buf", chat_id, "v2c"),
                  self._k("buf", chat_id, "c2v")],
            args=[chat_id, self._p, int(keep_codename_s * 1000)],
        )
        if not res:
            return None
        flat = [_str(x) for x in res]
        return self._chat(chat_id, dict(zip(flat[::2], flat[1::2], strict=True)))

    async def parked_codename(self, resume_key: str) -> str:
        return _str(await self._retried.get(self._k("parked", resume_key)) or "")

    async def chats_of(self, counsellor_id: str) -> list[str]:
        return sorted(_str(x) for x in await self._retried.smembers(self._k("cc", counsellor_id)))

    async def set_visitor_present(self, chat_id: str, present: bool, now: float) -> None:
        # One script: a check-then-write could bring back a husk of a chat ended in between.
        await self._present(keys=[self._k("chat", chat_id), self._k("left")],
                            args=[chat_id, "1" if present else "0", repr(now)])

    async def abandoned(self, now: float, grace: float) -> list[str]:
        left = await self._retried.zrangebyscore(self._k("left"), "-inf", now - grace)
        return [_str(x) for x in left]

    async def idle_expired(self, now: float, idle_ttl: float) -> list[str]:
        expired = await self._retried.zrangebyscore(self._k("activity"), "-inf", now - idle_ttl)
        return [_str(x) for x in expired]

    async def touch(self, chat_id: str, now: float) -> None:
        key = self._k("chat", chat_id)
        async with self._once.pipeline(transaction=True) as pipe:
            pipe.zadd(self._k("activity"), {chat_id: now}, xx=True)
            pipe.expire(key, self._safety_ttl, xx=True)
            await pipe.execute()

    async def set_consent(self, chat_id: str, version: str) -> None:
        key = self._k("chat", chat_id)
        # HSET only if the chat still exists, so an ended chat is not resurrected.
        await self._consent(keys=[key], args=[version])

    async def link_record(self, chat_id: str, record_id: str) -> None:
        await self._link_record(keys=[self._k("chat", chat_id)], args=[record_id])

    async def set_duty(self, who: Identity, on: bool) -> None:
        if on:
            await self._once.hset(self._k("duty"), who.id, json.dumps([who.pseudonym, who.role]))
        else:
            await self._once.hdel(self._k("duty"), who.id)

    async def roster(self) -> list[DutyEntry]:
        duty = {_str(k): _str(v) for k, v in (await self._retried.hgetall(self._k("duty"))).items()}
        if not duty:
            return []
        async with self._retried.pipeline(transaction=False) as pipe:
            for cid in duty:
                pipe.scard(self._k("cc", cid))
            counts = await pipe.execute()
        return [
            DutyEntry(cid, json.loads(raw)[0], int(n))
            for (cid, raw), n in zip(duty.items(), counts, strict=True)
        ]

    async def mark_seen(self, counsellor_ids: Sequence[str], now: float) -> None:
        if not counsellor_ids:
            return
        # GT: neither a node whose clock lags a little nor a late repeat moves anyone's
        # presence back, so this one is safe to repeat.
        async with self._retried.pipeline(transaction=True) as pipe:
            pipe.zadd(self._k("seen"), dict.fromkeys(counsellor_ids, now), gt=True)
            pipe.expire(self._k("seen"), self._safety_ttl)
            await pipe.execute()

    async def lapsed(self, now: float, grace: float) -> list[str]:
        ids = await self._lapsed(keys=[self._k("duty"), self._k("seen")],
                                 args=[repr(now - grace), self._p, repr(now)])
        return [_str(x) for x in ids]

    async def release(self, counsellor_id: str, now: float,
                      seen_before: float | None) -> Release | None:
        res = await self._release(
            keys=[self._k("duty"), self._k("seen"), self._k("cc", counsellor_id),
                  self._k("queue"), self._k("activity")],
            args=[counsellor_id, repr(now), "" if seen_before is None else repr(seen_before),
                  self._p, MAX_LOST, repr(URGENT_LEAD_S)],
        )
        if res is None:
            return None
        was, requeued, unreserved = res
        chats = []
        for chat_id, flat in zip(requeued[::2], requeued[1::2], strict=True):
            fields = [_str(x) for x in flat]
            chats.append(self._chat(_str(chat_id), dict(zip(fields[::2], fields[1::2],
                                                             strict=True))))
        return Release(bool(was), chats, [_str(x) for x in unreserved])

    async def add_wait(self, per_place_s: float, weight: float) -> None:
        # The average outlives quiet weeks, not an installation nobody runs any more.
        await self._add_wait(keys=[self._k("wait-average")],
                             args=[repr(per_place_s), repr(weight), 30 * 86400])

    async def wait_average(self) -> float | None:
        raw = await self._retried.get(self._k("wait-average"))
        return None if raw is None else float(raw)

    async def append(
        self, chat_id: str, direction: Direction, env: Envelope, now: float, ttl: float
    ) -> AppendResult:
        return (await self._append_checked(chat_id, direction, env, now, ttl, "-"))[0]

    async def append_held(
        self, chat_id: str, direction: Direction, env: Envelope, now: float, ttl: float,
        holder: str,
    ) -> tuple[AppendResult, str]:
        return await self._append_checked(chat_id, direction, env, now, ttl, holder)

    async def _append_checked(
        self, chat_id: str, direction: Direction, env: Envelope, now: float, ttl: float,
        holder: str,
    ) -> tuple[AppendResult, str]:
        keys = [self._k("chat", chat_id), self._k("buf", chat_id, direction),
                self._k("activity")]
        call = f"{self._node}{next(self._calls)}"
        args: list[str | int] = [holder, "seq_" + direction, env.seq, repr(now + ttl), env.ct,
                                 int(ttl * 1000), repr(now), chat_id, "call_" + direction, call]
        res, held_by = await self._hot.call("EVALSHA", self._append.sha, len(keys), *keys, *args,
                                            script=self._append)
        _raise_refusal(res)
        if res.startswith("bad_seq:"):
            raise DomainError(ErrorCode.BAD_SEQ, f"Expected sequence number {res[8:]}.")
        return cast(AppendResult, res), held_by

    async def next_seq(self, chat_id: str, direction: Direction) -> int:
        last = await self._retried.hget(self._k("chat", chat_id), "seq_" + direction)
        return int(last or 0) + 1

    async def pending(self, chat_id: str, direction: Direction, now: float) -> list[Envelope]:
        out = []
        for item in await self._retried.lrange(self._k("buf", chat_id, direction), 0, -1):
            seq, expires, ct = _str(item).split("|", 2)
            if float(expires) >= now:
                out.append(Envelope(int(seq), ct))
        return out

    async def ack(self, chat_id: str, direction: Direction, upto: int,
                  lost: tuple[int, ...] = ()) -> Receipt:
        try:
            return (await self._ack_checked(chat_id, direction, upto, "-", lost))[1]
        except DomainError as exc:
            if exc.code != ErrorCode.NOT_FOUND:
                raise
            return Receipt()

    async def ack_held(self, chat_id: str, direction: Direction, upto: int, holder: str,
                       lost: tuple[int, ...] = ()) -> tuple[str, Receipt]:
        return await self._ack_checked(chat_id, direction, upto, holder, lost)

    async def _ack_checked(self, chat_id: str, direction: Direction, upto: int, holder: str,
                           lost: tuple[int, ...]) -> tuple[str, Receipt]:
        keys = [self._k("chat", chat_id), self._k("buf", chat_id, direction)]
        args: list[str | int] = [holder, upto, direction, ",".join(map(str, lost)), MAX_LOST]
        answer = await self._hot.call("EVALSHA", self._ack_held.sha, len(keys), *keys, *args,
                                      script=self._ack_held)
        _raise_refusal(_str(answer[0]))
        _, held_by, mark, kept = answer
        return _str(held_by), _receipt(_str(mark), _str(kept))

    async def receipt(self, chat_id: str, direction: Direction) -> Receipt:
        mark, lost = await self._retried.hmget(self._k("chat", chat_id),
                                               ["ack_" + direction, "lost_" + direction])
        return _receipt(_str(mark or "0"), _str(lost or ""))

    async def set_codename(self, chat_id: str, codename: str) -> None:
        await self._set_codename(keys=[self._k("chat", chat_id)], args=[codename])

    async def get_codename(self, chat_id: str) -> str:
        return _str(await self._retried.hget(self._k("chat", chat_id), "codename") or "")

    async def clear_codename(self, chat_id: str, codename: str) -> None:
        await self._clear_codename(keys=[self._k("chat", chat_id)], args=[codename])

    async def incr_stats(self, hour: str, counts: dict[str, int]) -> None:
        key = self._k("stats", hour)
        async with self._once.pipeline(transaction=True) as pipe:
            for name, n in counts.items():
                pipe.hincrby(key, name, n)
            pipe.zadd(self._k("stats-hours"), {hour: int(hour)})
            # Counters wait at most a few days for a node to roll them up.
            pipe.expire(key, 7 * 86400)
            await pipe.execute()

    async def take_stats(self, before_hour: str) -> dict[str, dict[str, int]]:
        res = await self._take_stats(
            keys=[self._k("stats-hours")], args=[int(before_hour), self._k("stats", "")]
        )
        out: dict[str, dict[str, int]] = {}
        for hour, flat in zip(res[::2], res[1::2], strict=True):
            items = [_str(x) for x in flat]
            out[_str(hour)] = {k: int(v) for k, v in zip(items[::2], items[1::2], strict=True)}
        return out
