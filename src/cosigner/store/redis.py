"""Redis backend: redis-py, one hash per record, Lua scripts for every atomic step.

Each atomic operation of the store contract is one Lua script, which Redis
runs without interleaving: create-if-absent, take, use counting, the presign
CAS (version, expiry, scope and stage checked, then written, then
``PEXPIRE``), pool reserve / consume / discard, and the conditional audit
append (the hash chain is computed in Python, since Redis Lua has no
SHA-256, and the script appends only if the head has not moved; a lost
append retries).

Keys: ``{prefix}:{{{namespace}}}:...``. The namespace is a hash tag, so all
keys of a namespace live in one cluster slot; scripts that derive keys from
stored members (pool sweeps, index cleanup) rely on that. Id parts of keys
are escaped, so ids may contain ``:``.

Expiry is logical and physical. A record carries ``expires_at_ms`` from the
injected clock and every read and script checks ``expires_at_ms > now``;
``PEXPIRE`` with the same TTL lets Redis drop it afterwards.

Durability: a consumed presignature must stay consumed through a crash.
Run Redis with ``appendonly yes`` and ``appendfsync always`` where that
guarantee matters; with weaker settings a crash can roll back recent writes.
"""

from __future__ import annotations

import functools
import json
import random
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, ParamSpec, TypeVar, cast

import redis as redis_py

from cosigner.store.audit import GENESIS_HASH, chain_entry
from cosigner.store.base import (
    AuditLog,
    AuthSessionStore,
    CredentialStore,
    IdentityStore,
    KeyStore,
    PresignaturePool,
    PresignSessionStore,
    SessionStore,
    SessionVersionStore,
    Store,
    StorePart,
    check_namespace,
)
from cosigner.store.errors import SchemaVersionError, StoreConfigError, StoreUnavailableError
from cosigner.store.records import (
    AuditEntry,
    AuthSession,
    Clock,
    Identity,
    KeyRecord,
    PooledPresignature,
    Presignature,
    PresignatureStatus,
    PresignSession,
    PresignStage,
    Reservation,
    SessionRecord,
    SessionScope,
    WebAuthnCredential,
    system_clock,
)

SCHEMA_VERSION: Final = 2
"""2: presignatures carry their scheme and a per-scheme count of available ones, and users
a session version. A namespace at 1 is marked 2 on open; presignatures put under 1 count
in no scheme's total."""
_APPEND_ATTEMPTS: Final = 10_000

# KEYS[1] record, KEYS[2] optional index set.
# ARGV[1] PEXPIRE ms or '', ARGV[2] index member or '', ARGV[3..] field, value, ...
_CREATE: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
if KEYS[2] then
  redis.call('HSET', KEYS[1], '_index', KEYS[2])
  redis.call('SADD', KEYS[2], ARGV[2])
end
if ARGV[1] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return 1
"""

# KEYS[1] record; ARGV[1] its member in the index set named by its '_index' field.
_DELETE: Final = """
local index = redis.call('HGET', KEYS[1], '_index')
local n = redis.call('DEL', KEYS[1])
if index then redis.call('SREM', index, ARGV[1]) end
return n
"""

_TAKE: Final = """
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return false end
redis.call('DEL', KEYS[1])
return fields
"""

# ARGV[1] now, ARGV[2] scope or ''.
_USE: Final = """
local h = redis.call('HMGET', KEYS[1], 'expires_at_ms', 'scope', 'uses', 'max_uses')
if not h[1] then return false end
if tonumber(h[1]) <= tonumber(ARGV[1]) then return false end
if ARGV[2] ~= '' and h[2] ~= ARGV[2] then return false end
if tonumber(h[3]) >= tonumber(h[4]) then return false end
redis.call('HINCRBY', KEYS[1], 'uses', 1)
return redis.call('HGETALL', KEYS[1])
"""

# ARGV: 1 expected version, 2 now, 3 scope, 4 ',from,stages,', 5 stage, 6 state,
#       7 new expires_at_ms or '', 8 PEXPIRE ms or ''.
_ADVANCE: Final = """
local h = redis.call('HMGET', KEYS[1], 'version', 'expires_at_ms', 'scope', 'stage')
if not h[1] then return false end
if tonumber(h[1]) ~= tonumber(ARGV[1]) then return false end
if tonumber(h[2]) <= tonumber(ARGV[2]) then return false end
if h[3] ~= ARGV[3] then return false end
if not string.find(ARGV[4], ',' .. h[4] .. ',', 1, true) then return false end
redis.call('HINCRBY', KEYS[1], 'version', 1)
redis.call('HSET', KEYS[1], 'stage', ARGV[5], 'state', ARGV[6], 'updated_at_ms', ARGV[2])
if ARGV[7] ~= '' then
  redis.call('HSET', KEYS[1], 'expires_at_ms', ARGV[7])
  redis.call('PEXPIRE', KEYS[1], ARGV[8])
end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS[1] item, KEYS[2] available list, KEYS[3] per-scheme available counts, KEYS[4] the
# pool's put counter (each item keeps its put_seq: release puts it back in its place).
# ARGV: 1 member, 2 id, 3 public, 4 secret, 5 now, 6 scheme.
_POOL_PUT: Final = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('HSET', KEYS[1], 'presignature_id', ARGV[2], 'status', 'available',
  'public', ARGV[3], 'secret', ARGV[4], 'created_at_ms', ARGV[5], 'scheme', ARGV[6],
  'put_seq', redis.call('INCR', KEYS[4]))
redis.call('RPUSH', KEYS[2], ARGV[1])
redis.call('HINCRBY', KEYS[3], ARGV[6], 1)
return 1
"""

# An item leaves the available set: count it out of its scheme's total.
_UNCOUNT_FN: Final = """
local function uncount(totals, item)
  redis.call('HINCRBY', totals, redis.call('HGET', item, 'scheme') or '', -1)
end
"""

# Retire an item for good: status, wipe public and secret parts.
_RETIRE_FN: Final = """
local function retire(item, status, now)
  redis.call('HSET', item, 'status', status, 'finished_at_ms', now)
  redis.call('HDEL', item, 'public', 'secret')
end
"""

# KEYS[1] available list, KEYS[2] reserved zset (score: expiry), KEYS[3] per-scheme counts.
# ARGV: 1 item key prefix, 2 now, 3 expires_at_ms, 4 member to reserve or '' for the oldest.
_POOL_RESERVE: Final = (
    _RETIRE_FN
    + _UNCOUNT_FN
    + """
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[2])) do
  retire(ARGV[1] .. member, 'discarded', ARGV[2])
  redis.call('ZREM', KEYS[2], member)
end
local member
if ARGV[4] == '' then
  member = redis.call('LPOP', KEYS[1])
  if not member then return false end
else
  if redis.call('LREM', KEYS[1], 1, ARGV[4]) == 0 then return false end
  member = ARGV[4]
end
local item = ARGV[1] .. member
uncount(KEYS[3], item)
redis.call('HSET', item, 'status', 'reserved', 'reserved_at_ms', ARGV[2], 'expires_at_ms', ARGV[3])
redis.call('ZADD', KEYS[2], ARGV[3], member)
return redis.call('HMGET', item, 'presignature_id', 'public')
"""
)

# KEYS[1] item, KEYS[2] reserved zset. ARGV: 1 member, 2 now.
_POOL_CONSUME: Final = (
    _RETIRE_FN
    + """
local h = redis.call('HMGET', KEYS[1], 'status', 'expires_at_ms', 'public', 'secret')
if h[1] ~= 'reserved' then return false end
redis.call('ZREM', KEYS[2], ARGV[1])
if tonumber(h[2]) <= tonumber(ARGV[2]) then
  retire(KEYS[1], 'discarded', ARGV[2])
  return false
end
retire(KEYS[1], 'consumed', ARGV[2])
return {h[3], h[4]}
"""
)

# KEYS[1] item, KEYS[2] available list, KEYS[3] reserved zset, KEYS[4] per-scheme counts.
# ARGV: 1 member, 2 now, 3 item key prefix. A live reservation goes back to its place in put
# order (each item's put_seq), so the oldest is still reserved first.
_POOL_RELEASE: Final = """
local h = redis.call('HMGET', KEYS[1], 'status', 'expires_at_ms', 'scheme')
if h[1] ~= 'reserved' or tonumber(h[2]) <= tonumber(ARGV[2]) then return 0 end
redis.call('ZREM', KEYS[3], ARGV[1])
redis.call('HSET', KEYS[1], 'status', 'available')
redis.call('HDEL', KEYS[1], 'reserved_at_ms', 'expires_at_ms')
-- Back in its place in put order (ARGV[3]: item key prefix), as the SQL pools keep it.
local seq = tonumber(redis.call('HGET', KEYS[1], 'put_seq') or '')
local placed = false
if seq then
  for _, member in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
    local other = tonumber(redis.call('HGET', ARGV[3] .. member, 'put_seq') or '')
    if other and other > seq then
      redis.call('LINSERT', KEYS[2], 'BEFORE', member, ARGV[1])
      placed = true
      break
    end
  end
  if not placed then redis.call('RPUSH', KEYS[2], ARGV[1]) end
else
  redis.call('LPUSH', KEYS[2], ARGV[1])  -- put before put_seq existed: the oldest
end
redis.call('HINCRBY', KEYS[4], h[3] or '', 1)
return 1
"""

# KEYS[1] item, KEYS[2] available list, KEYS[3] reserved zset, KEYS[4] per-scheme counts.
# ARGV: 1 member, 2 now.
_POOL_DISCARD: Final = (
    _RETIRE_FN
    + _UNCOUNT_FN
    + """
local status = redis.call('HGET', KEYS[1], 'status')
if not status then return 0 end
if status == 'available' then
  redis.call('LREM', KEYS[2], 0, ARGV[1])
  uncount(KEYS[4], KEYS[1])
end
if status == 'reserved' then redis.call('ZREM', KEYS[3], ARGV[1]) end
if status == 'available' or status == 'reserved' then retire(KEYS[1], 'discarded', ARGV[2]) end
return 1
"""
)

# KEYS[1] available list. ARGV: 1 item key prefix. Returns id, created_at_ms, id, ...
_POOL_LIST: Final = """
local out = {}
for _, member in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local h = redis.call('HMGET', ARGV[1] .. member, 'presignature_id', 'created_at_ms')
  if h[1] then
    out[#out + 1] = h[1]
    out[#out + 1] = h[2]
  end
end
return out
"""

# KEYS[1] available list, KEYS[2] per-scheme counts. ARGV: 1 item key prefix, 2 cutoff, 3 now.
_POOL_DISCARD_OLDER: Final = (
    _RETIRE_FN
    + _UNCOUNT_FN
    + """
local n = 0
for _, member in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  local item = ARGV[1] .. member
  local created = redis.call('HGET', item, 'created_at_ms')
  if created and tonumber(created) <= tonumber(ARGV[2]) then
    redis.call('LREM', KEYS[1], 0, member)
    uncount(KEYS[2], item)
    retire(item, 'discarded', ARGV[3])
    n = n + 1
  end
end
return n
"""
)

# KEYS[1] identity, KEYS[2] user index. ARGV: 1 member, 2.. field, value, ...
_LINK: Final = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('HSET', KEYS[1], unpack(ARGV, 2))
  redis.call('SADD', KEYS[2], ARGV[1])
end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS[1] identity, KEYS[2] user index. ARGV: 1 user id, 2 member.
_UNLINK: Final = """
if redis.call('HGET', KEYS[1], 'user_id') ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 1
"""

# KEYS[1] identity, KEYS[2] user index. ARGV: 1 user id, 2 member, 3 identity key prefix.
# Counts the user's identities that exist and are the user's, as _list_for_user does.
_UNLINK_UNLESS_LAST: Final = """
if redis.call('HGET', KEYS[1], 'user_id') ~= ARGV[1] then return 'missing' end
local linked = 0
for _, member in ipairs(redis.call('SMEMBERS', KEYS[2])) do
  if redis.call('HGET', ARGV[3] .. member, 'user_id') == ARGV[1] then linked = linked + 1 end
end
if linked <= 1 then return 'last' end
redis.call('DEL', KEYS[1])
redis.call('SREM', KEYS[2], ARGV[2])
return 'unlinked'
"""

# ARGV: 1 sign count, 2 now.
_SIGN_COUNT: Final = """
local stored = redis.call('HGET', KEYS[1], 'sign_count')
if not stored then return false end
stored = tonumber(stored)
local count = tonumber(ARGV[1])
if not (count > stored or (count == 0 and stored == 0)) then return false end
redis.call('HSET', KEYS[1], 'sign_count', ARGV[1], 'last_used_at_ms', ARGV[2])
return redis.call('HGETALL', KEYS[1])
"""

# KEYS[1] entries hash, KEYS[2] head hash. ARGV: 1 head seq read, 2 new seq, 3 entry, 4 hash.
_AUDIT_APPEND: Final = """
local seq = redis.call('HGET', KEYS[2], 'seq') or '0'
if seq ~= ARGV[1] then return 0 end
if redis.call('HEXISTS', KEYS[1], ARGV[2]) == 1 then return 0 end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('HSET', KEYS[2], 'seq', ARGV[2], 'hash', ARGV[4])
return 1
"""


def escape(part: str) -> str:
    """A key part with the characters that structure keys (``%``, ``:``, braces) escaped."""
    return part.replace("%", "%25").replace(":", "%3A").replace("{", "%7B").replace("}", "%7D")


Fields = dict[str, bytes]
_Value = str | bytes | int


def _fields(reply: Any) -> Fields:
    """A hash from HGETALL (a dict) or from a script (a flat list)."""
    if isinstance(reply, Mapping):
        return {_text(k): bytes(v) for k, v in reply.items()}
    items = list(reply)
    return {_text(items[i]): bytes(items[i + 1]) for i in range(0, len(items), 2)}


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _int(fields: Fields, name: str) -> int:
    return int(fields[name])


def _opt_int(fields: Fields, name: str) -> int | None:
    return int(fields[name]) if name in fields else None


def _flatten(pairs: Mapping[str, _Value]) -> list[_Value]:
    out: list[_Value] = []
    for name, value in pairs.items():
        out += [name, value]
    return out


_Script = Callable[..., Any]
"""A registered Lua script: ``script(keys=[...], args=[...])`` runs it (EVALSHA)."""
_P = ParamSpec("_P")
_R = TypeVar("_R")


def _answering(call: Callable[_P, _R]) -> Callable[_P, _R]:
    """``call`` with a lost or refused connection raised as :class:`StoreUnavailableError`."""

    @functools.wraps(call)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return call(*args, **kwargs)
        except (redis_py.ConnectionError, redis_py.TimeoutError) as exc:
            raise StoreUnavailableError(
                f"the Redis store did not answer: {type(exc).__name__}"
            ) from None

    return wrapper


class _Client:
    """The redis-py calls the store makes, with the reply types they have here.

    redis-py types most replies as "a value or an awaitable" across versions;
    this keeps that looseness in one place. Replies are bytes (no decoding).
    """

    def __init__(self, url: str) -> None:
        from_url: Any = redis_py.Redis.from_url
        self._raw: Any = from_url(url)

    def script(self, source: str) -> _Script:
        return _answering(cast(_Script, self._raw.register_script(source)))

    @_answering
    def hgetall(self, key: str) -> dict[bytes, bytes]:
        return cast(dict[bytes, bytes], self._raw.hgetall(key))

    @_answering
    def hget(self, key: str, field: str) -> bytes | None:
        return cast(bytes | None, self._raw.hget(key, field))

    @_answering
    def hmget(self, key: str, fields: list[str]) -> list[bytes | None]:
        return cast(list[bytes | None], self._raw.hmget(key, fields))

    @_answering
    def hsetnx(self, key: str, field: str, value: str) -> None:
        self._raw.hsetnx(key, field, value)

    @_answering
    def hset(self, key: str, field: str, value: str) -> None:
        self._raw.hset(key, field, value)

    @_answering
    def hincrby(self, key: str, field: str, amount: int) -> int:
        return int(self._raw.hincrby(key, field, amount))

    @_answering
    def smembers(self, key: str) -> set[bytes]:
        return cast(set[bytes], self._raw.smembers(key))

    @_answering
    def llen(self, key: str) -> int:
        return int(self._raw.llen(key))

    @_answering
    def scan(self, match: str) -> list[bytes]:
        return [bytes(k) for k in self._raw.scan_iter(match=match, count=1000)]

    @_answering
    def delete(self, key: str) -> int:
        return int(self._raw.delete(key))

    def close(self) -> None:
        self._raw.close()


class _Keys:
    """Key names of one namespace."""

    def __init__(self, prefix: str, namespace: str) -> None:
        self.base = f"{prefix}:{{{namespace}}}:"

    def __call__(self, *parts: str) -> str:
        return self.base + ":".join(parts)


class _RedisPart(StorePart):
    def __init__(self, client: _Client, keys: _Keys, clock: Clock) -> None:
        super().__init__(clock)
        self._r = client
        self._k = keys

    def _script(self, source: str) -> _Script:
        return self._r.script(source)

    def _hgetall(self, key: str) -> Fields | None:
        reply = self._r.hgetall(key)
        return _fields(reply) if reply else None


# -- keys ---------------------------------------------------------------------------------


def _key_record(f: Fields) -> KeyRecord:
    return KeyRecord(
        key_id=f["key_id"].decode(),
        user_id=f["user_id"].decode(),
        rp_id=f["rp_id"].decode(),
        scheme_id=f["scheme_id"].decode(),
        public_key=f["public_key"],
        participant_ids=tuple(json.loads(f["participant_ids"])),
        metadata=json.loads(f["metadata"]),
        sealed=f["sealed"],
        created_at_ms=_int(f, "created_at_ms"),
    )


class RedisKeyStore(_RedisPart, KeyStore):
    def __init__(self, client: _Client, keys: _Keys, clock: Clock) -> None:
        super().__init__(client, keys, clock)
        self._create = self._script(_CREATE)
        self._del = self._script(_DELETE)

    def _insert(self, record: KeyRecord, metadata_json: str) -> bool:
        fields: dict[str, _Value] = {
            "key_id": record.key_id,
            "user_id": record.user_id,
            "rp_id": record.rp_id,
            "scheme_id": record.scheme_id,
            "public_key": record.public_key,
            "participant_ids": json.dumps(list(record.participant_ids)),
            "metadata": metadata_json,
            "sealed": record.sealed,
            "created_at_ms": record.created_at_ms,
        }
        keys = [self._k("key", escape(record.key_id)), self._k("user-keys", escape(record.user_id))]
        return bool(self._create(keys=keys, args=["", record.key_id, *_flatten(fields)]))

    def _load(self, key_id: str) -> KeyRecord | None:
        found = self._hgetall(self._k("key", escape(key_id)))
        return None if found is None else _key_record(found)

    def _list_for_user(self, user_id: str) -> Iterable[KeyRecord]:
        members = self._r.smembers(self._k("user-keys", escape(user_id)))
        out = []
        for member in members:
            found = self._load(_text(member))
            if found is not None and found.user_id == user_id:
                out.append(found)
        return out

    def _delete(self, key_id: str) -> bool:
        return bool(self._del(keys=[self._k("key", escape(key_id))], args=[key_id]))


# -- short-lived sessions -----------------------------------------------------------------


class RedisSessionStore(_RedisPart, SessionStore):
    def __init__(self, client: _Client, keys: _Keys, clock: Clock) -> None:
        super().__init__(client, keys, clock)
        self._create = self._script(_CREATE)
        self._take_script = self._script(_TAKE)

    def _key(self, kind: str, session_id: str) -> str:
        return self._k("session", escape(kind), escape(session_id))

    def _insert(self, record: SessionRecord, now: int) -> bool:
        fields: dict[str, _Value] = {
            "created_at_ms": record.created_at_ms,
            "expires_at_ms": record.expires_at_ms,
            "data": record.data,
        }
        ttl = record.expires_at_ms - now
        key = self._key(record.kind, record.session_id)
        return bool(self._create(keys=[key], args=[ttl, "", *_flatten(fields)]))

    def _record(self, kind: str, session_id: str, f: Fields) -> SessionRecord:
        return SessionRecord(
            kind, session_id, _int(f, "created_at_ms"), _int(f, "expires_at_ms"), f["data"]
        )

    def _load(self, kind: str, session_id: str) -> SessionRecord | None:
        found = self._hgetall(self._key(kind, session_id))
        return None if found is None else self._record(kind, session_id, found)

    def _take(self, kind: str, session_id: str) -> SessionRecord | None:
        reply = self._take_script(keys=[self._key(kind, session_id)])
        return None if reply is None else self._record(kind, session_id, _fields(reply))

    def _delete(self, kind: str, session_id: str) -> bool:
        return bool(self._r.delete(self._key(kind, session_id)))


# -- session versions ---------------------------------------------------------------------


class RedisSessionVersionStore(_RedisPart, SessionVersionStore):
    def __init__(self, client: _Client, keys: _Keys, clock: Clock) -> None:
        super().__init__(client, keys, clock)
        self._versions = self._k("session-versions")

    def _load(self, user_id: str) -> int:
        found = self._r.hget(self._versions, escape(user_id))
        return 0 if found is None else int(found)

    def _increment(self, user_id: str, now: int) -> int:
        return self._r.hincrby(self._versions, escape(user_id), 1)


# -- threshold sessions -------------------------------------------------------------------


def _auth_session(f: Fields) -> AuthSession:
    return AuthSession(
        session_id=f["session_id"].decode(),
        scheme_id=f["scheme_id"].decode(),
        scope=SessionScope.from_canonical(f["scope"].decode()),
        max_uses=_int(f, "max_uses"),
        uses=_int(f, "uses"),
        created_at_ms=_int(f, "created_at_ms"),
        expires_at_ms=_int(f, "expires_at_ms"),
    )


class RedisAuthSessionStore(_RedisPart, AuthSessionStore):
    def __init__(self, client: _Client, keys: _Keys, clock: Clock) -> None:
        super().__init__(client, keys, clock)
        self._create = self._script(_CREATE)
        self._use = self._script(_USE)

    def _key(self, session_id: str) -> str:
        return self._k("auth", escape(session_id))

    def _insert(self, record: AuthSession, now: int) -> bool:
        fields: dict[str, _Value] = {
            "session_id": record.session_id,
            "scheme_id": record.scheme_id,
            "scope": record.scope.canonical(),
            "max_uses": record.max_uses,
            "uses": record.uses,
            "created_at_ms": record.created_at_ms,
            "expires_at_ms": record.expires_at_ms,
        }
        ttl = record.expires_at_ms - now
        return bool(
            self._create(keys=[self._key(record.session_id)], args=[ttl, "", *_flatten(fields)])
        )

    def _load(self, session_id: str) -> AuthSession | None:
        found = self._hgetall(self._key(session_id))
        return None if found is None else _auth_session(found)

    def _increment_use(
        self, session_id: str, now: int, scope_key: str | None
    ) -> AuthSession | None:
        reply = self._use(keys=[self._key(session_id)], args=[now, scope_key or ""])
        return None if reply is None else _auth_session(_fields(reply))

    def _delete(self, session_id: str) -> bool:
        return bool(self._r.delete(self._key(session_id)))


# -- presign sessions ---------------------------------------------------------------------


def _presign_session(f: Fields) -> PresignSession:
    return PresignSession(
        session_id=f["session_id"].decode(),
        scope=SessionScope.from_canonical(f["scope"].decode()),
        stage=PresignStage(f["stage"].decode()),
        version=_int(f, "version"),
        created_at_ms=_int(f, "created_at_ms"),
        updated_at_ms=_int(f, "updated_at_ms"),
        expires_at_ms=_int(f, "expires_at_ms"),
        state=f["state"],
    )


class RedisPresignSessionStore(_RedisPart, PresignSessionStore):
    def __init__(self, client: _Client, keys: _Keys, clock: Clock) -> None:
        super().__init__(client, keys, clock)
        self._create = self._script(_CREATE)
        self._cas = self._script(_ADVANCE)

    def _key(self, session_id: str) -> str:
        return self._k("presign", escape(session_id))

    def _insert(self, record: PresignSession, now: int) -> bool:
        fields: dict[str, _Value] = {
            "session_id": record.session_id,
            "scope": record.scope.canonical(),
            "stage": str(record.stage),
            "version": record.version,
            "created_at_ms": record.created_at_ms,
            "updated_at_ms": record.updated_at_ms,
            "expires_at_ms": record.expires_at_ms,
            "state": record.state,
        }
        ttl = record.expires_at_ms - now
        return bool(
            self._create(keys=[self._key(record.session_id)], args=[ttl, "", *_flatten(fields)])
        )

    def _load(self, session_id: str) -> PresignSession | None:
        found = self._hgetall(self._key(session_id))
        return None if found is None else _presign_session(found)

    def _advance(
        self,
        session_id: str,
        expected_version: int,
        scope_key: str,
        from_stages: frozenset[str],
        stage: PresignStage,
        state: bytes,
        now: int,
        expires_at_ms: int | None,
    ) -> PresignSession | None:
        sources = "," + ",".join(sorted(from_stages)) + ","
        expiry: list[str | int] = ["", ""]
        if expires_at_ms is not None:
            expiry = [expires_at_ms, expires_at_ms - now]
        reply = self._cas(
            keys=[self._key(session_id)],
            args=[expected_version, now, scope_key, sources, str(stage), state, *expiry],
        )
        return None if reply is None else _presign_session(_fields(reply))

    def _delete(self, session_id: str) -> bool:
        return bool(self._r.delete(self._key(session_id)))


# -- presignature pool --------------------------------------------------------------------


class RedisPresignaturePool(_RedisPart, PresignaturePool):
    def __init__(self, client: _Client, keys: _Keys, clock: Clock) -> None:
        super().__init__(client, keys, clock)
        self._put = self._script(_POOL_PUT)
        self._take_one = self._script(_POOL_RESERVE)
        self._use = self._script(_POOL_CONSUME)
        self._retire = self._script(_POOL_DISCARD)
        self._unreserve = self._script(_POOL_RELEASE)
        self._list = self._script(_POOL_LIST)
        self._retire_older = self._script(_POOL_DISCARD_OLDER)

    def _item_prefix(self, key_id: str) -> str:
        return self._k("presignature", escape(key_id), "")

    def _available_key(self, key_id: str) -> str:
        return self._k("pool", escape(key_id), "available")

    def _reserved_key(self, key_id: str) -> str:
        return self._k("pool", escape(key_id), "reserved")

    def _totals_key(self) -> str:
        return self._k("pool-available-by-scheme")

    def _insert(
        self,
        key_id: str,
        presignature_id: str,
        public: bytes,
        secret: bytes,
        now: int,
        scheme: str,
    ) -> bool:
        member = escape(presignature_id)
        keys = [
            self._item_prefix(key_id) + member,
            self._available_key(key_id),
            self._totals_key(),
            self._k("pool", escape(key_id), "seq"),
        ]
        args = [member, presignature_id, public, secret, now, scheme]
        return bool(self._put(keys=keys, args=args))

    def _reserve(
        self, key_id: str, now: int, expires_at_ms: int, presignature_id: str | None
    ) -> Reservation | None:
        keys = [self._available_key(key_id), self._reserved_key(key_id), self._totals_key()]
        wanted = "" if presignature_id is None else escape(presignature_id)
        reply = self._take_one(
            keys=keys, args=[self._item_prefix(key_id), now, expires_at_ms, wanted]
        )
        if reply is None:
            return None
        presignature_id, public = reply
        return Reservation(key_id, _text(presignature_id), now, expires_at_ms, bytes(public))

    def _consume(self, key_id: str, presignature_id: str, now: int) -> Presignature | None:
        member = escape(presignature_id)
        keys = [self._item_prefix(key_id) + member, self._reserved_key(key_id)]
        reply = self._use(keys=keys, args=[member, now])
        if reply is None:
            return None
        public, secret = reply
        return Presignature(key_id, presignature_id, bytes(public), bytes(secret))

    def _release(self, key_id: str, presignature_id: str, now: int) -> bool:
        return self._move(self._unreserve, key_id, presignature_id, now, self._item_prefix(key_id))

    def _discard(self, key_id: str, presignature_id: str, now: int) -> bool:
        return self._move(self._retire, key_id, presignature_id, now)

    def _move(
        self, script: _Script, key_id: str, presignature_id: str, now: int, *extra: str
    ) -> bool:
        """Run a script that moves one item between the available list and the reserved set."""
        member = escape(presignature_id)
        keys = [
            self._item_prefix(key_id) + member,
            self._available_key(key_id),
            self._reserved_key(key_id),
            self._totals_key(),
        ]
        return bool(script(keys=keys, args=[member, now, *extra]))

    def _count_available(self, key_id: str) -> int:
        return self._r.llen(self._available_key(key_id))

    def _count_available_total(self, scheme: str) -> int:
        found = self._r.hget(self._totals_key(), scheme)
        return 0 if found is None else max(int(found), 0)

    def _status(
        self, key_id: str, presignature_id: str
    ) -> tuple[PresignatureStatus, int | None] | None:
        key = self._item_prefix(key_id) + escape(presignature_id)
        status, expires = self._r.hmget(key, ["status", "expires_at_ms"])
        if status is None:
            return None
        return PresignatureStatus(_text(status)), None if expires is None else int(expires)

    def _list_available(self, key_id: str) -> Iterable[PooledPresignature]:
        reply = self._list(keys=[self._available_key(key_id)], args=[self._item_prefix(key_id)])
        items = list(reply or [])
        return [
            PooledPresignature(key_id, _text(items[i]), int(items[i + 1]))
            for i in range(0, len(items), 2)
        ]

    def _discard_older(self, cutoff_ms: int, now: int) -> int:
        # Every key's available list, found by name (one namespace: one hash tag, one slot);
        # each list is swept by one script, so each retirement is atomic with reserves.
        head, tail = self._available_key("\0").split("\0")
        discarded = 0
        for name in self._r.scan(head + "*" + tail):
            escaped = _text(name)[len(head) : -len(tail)]
            prefix = self._k("presignature", escaped, "")
            keys = [_text(name), self._totals_key()]
            discarded += int(self._retire_older(keys=keys, args=[prefix, cutoff_ms, now]))
        return discarded


# -- identities and credentials -----------------------------------------------------------


def _identity(f: Fields) -> Identity:
    return Identity(
        f["provider"].decode(),
        f["subject"].decode(),
        f["user_id"].decode(),
        _int(f, "created_at_ms"),
    )


class RedisIdentityStore(_RedisPart, IdentityStore):
    def __init__(self, client: _Client, keys: _Keys, clock: Clock) -> None:
        super().__init__(client, keys, clock)
        self._link = self._script(_LINK)
        self._unlink = self._script(_UNLINK)
        self._unlink_unless_last = self._script(_UNLINK_UNLESS_LAST)

    @staticmethod
    def _member(provider: str, subject: str) -> str:
        return f"{escape(provider)}:{escape(subject)}"

    def _insert(self, identity: Identity) -> Identity:
        member = self._member(identity.provider, identity.subject)
        fields: dict[str, _Value] = {
            "provider": identity.provider,
            "subject": identity.subject,
            "user_id": identity.user_id,
            "created_at_ms": identity.created_at_ms,
        }
        keys = [self._k("identity", member), self._k("user-identities", escape(identity.user_id))]
        return _identity(_fields(self._link(keys=keys, args=[member, *_flatten(fields)])))

    def _load(self, provider: str, subject: str) -> Identity | None:
        found = self._hgetall(self._k("identity", self._member(provider, subject)))
        return None if found is None else _identity(found)

    def _list_for_user(self, user_id: str) -> Iterable[Identity]:
        members = self._r.smembers(self._k("user-identities", escape(user_id)))
        out = []
        for member in members:
            found = self._hgetall(self._k("identity", _text(member)))
            if found is not None and found["user_id"].decode() == user_id:
                out.append(_identity(found))
        return out

    def _delete(self, provider: str, subject: str, user_id: str) -> bool:
        member = self._member(provider, subject)
        keys = [self._k("identity", member), self._k("user-identities", escape(user_id))]
        return bool(self._unlink(keys=keys, args=[user_id, member]))

    def _delete_unless_last(self, provider: str, subject: str, user_id: str) -> str:
        member = self._member(provider, subject)
        keys = [self._k("identity", member), self._k("user-identities", escape(user_id))]
        reply = self._unlink_unless_last(keys=keys, args=[user_id, member, self._k("identity", "")])
        return _text(reply)


def _credential(f: Fields) -> WebAuthnCredential:
    return WebAuthnCredential(
        credential_id=f["credential_id"],
        user_id=f["user_id"].decode(),
        rp_id=f["rp_id"].decode(),
        public_key=f["public_key"],
        sign_count=_int(f, "sign_count"),
        transports=tuple(json.loads(f["transports"])),
        created_at_ms=_int(f, "created_at_ms"),
        last_used_at_ms=_opt_int(f, "last_used_at_ms"),
    )


class RedisCredentialStore(_RedisPart, CredentialStore):
    def __init__(self, client: _Client, keys: _Keys, clock: Clock) -> None:
        super().__init__(client, keys, clock)
        self._create = self._script(_CREATE)
        self._del = self._script(_DELETE)
        self._count = self._script(_SIGN_COUNT)

    def _key(self, credential_id: bytes) -> str:
        return self._k("credential", credential_id.hex())

    def _insert(self, credential: WebAuthnCredential) -> bool:
        fields: dict[str, _Value] = {
            "credential_id": credential.credential_id,
            "user_id": credential.user_id,
            "rp_id": credential.rp_id,
            "public_key": credential.public_key,
            "sign_count": credential.sign_count,
            "transports": json.dumps(list(credential.transports)),
            "created_at_ms": credential.created_at_ms,
        }
        keys = [
            self._key(credential.credential_id),
            self._k("user-credentials", escape(credential.user_id)),
        ]
        member = credential.credential_id.hex()
        return bool(self._create(keys=keys, args=["", member, *_flatten(fields)]))

    def _load(self, credential_id: bytes) -> WebAuthnCredential | None:
        found = self._hgetall(self._key(credential_id))
        return None if found is None else _credential(found)

    def _list_for_user(self, user_id: str) -> list[WebAuthnCredential]:
        members = self._r.smembers(self._k("user-credentials", escape(user_id)))
        out = []
        for member in members:
            found = self._load(bytes.fromhex(_text(member)))
            if found is not None and found.user_id == user_id:
                out.append(found)
        return out

    def _update_sign_count(
        self, credential_id: bytes, sign_count: int, now: int
    ) -> WebAuthnCredential | None:
        reply = self._count(keys=[self._key(credential_id)], args=[sign_count, now])
        return None if reply is None else _credential(_fields(reply))

    def _delete(self, credential_id: bytes) -> bool:
        return bool(self._del(keys=[self._key(credential_id)], args=[credential_id.hex()]))


# -- audit log ----------------------------------------------------------------------------


def _entry_json(entry: AuditEntry) -> str:
    return json.dumps(
        {
            "seq": entry.seq,
            "at_ms": entry.at_ms,
            "kind": entry.kind,
            "subject": entry.subject,
            "data": entry.data,
            "prev_hash": entry.prev_hash.hex(),
            "hash": entry.hash.hex(),
        },
        sort_keys=True,
    )


def _entry(raw: bytes | str) -> AuditEntry:
    d = json.loads(raw)
    return AuditEntry(
        int(d["seq"]),
        int(d["at_ms"]),
        d["kind"],
        d["subject"],
        d["data"],
        bytes.fromhex(d["prev_hash"]),
        bytes.fromhex(d["hash"]),
    )


class RedisAuditLog(_RedisPart, AuditLog):
    def __init__(self, client: _Client, keys: _Keys, clock: Clock) -> None:
        super().__init__(client, keys, clock)
        self._cas_append = self._script(_AUDIT_APPEND)
        self._entries_key = self._k("audit", "entries")
        self._head_key = self._k("audit", "head")

    def _append(self, kind: str, subject: str, data: str, at_ms: int) -> AuditEntry:
        for attempt in range(_APPEND_ATTEMPTS):
            seq, prev = self._head()
            entry = chain_entry(seq, prev, at_ms=at_ms, kind=kind, subject=subject, data=data)
            args: list[_Value] = [seq, entry.seq, _entry_json(entry), entry.hash.hex()]
            if self._cas_append(keys=[self._entries_key, self._head_key], args=args):
                return entry
            # Another writer appended first: back off a little and chain onto its entry.
            time.sleep(random.uniform(0, min(0.001 * (attempt + 1), 0.02)))
        raise StoreUnavailableError("the audit log is too contended to append; retry")

    def _entries(self, after_seq: int, limit: int) -> list[AuditEntry]:
        head, _ = self._head()
        last = min(head, after_seq + limit)
        if last <= after_seq:
            return []
        raw = self._r.hmget(self._entries_key, [str(s) for s in range(after_seq + 1, last + 1)])
        return [_entry(r) for r in raw if r is not None]

    def _head(self) -> tuple[int, bytes]:
        seq, digest = self._r.hmget(self._head_key, ["seq", "hash"])
        if seq is None or digest is None:
            return 0, GENESIS_HASH
        return int(seq), bytes.fromhex(_text(digest))


# -- the store ----------------------------------------------------------------------------


class RedisStore(Store):
    """The Redis store; ``url`` is a ``redis://`` or ``rediss://`` URL."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "default",
        clock: Clock = system_clock,
        key_prefix: str = "cosigner",
    ) -> None:
        self.namespace = check_namespace(namespace)
        check_namespace(key_prefix)
        if not url.startswith(("redis://", "rediss://", "unix://")):
            raise StoreConfigError("a Redis store URL starts with redis://, rediss:// or unix://")
        self._clock = clock
        self._client = _Client(url)
        keys = _Keys(key_prefix, namespace)
        self.key_prefix = keys.base
        try:
            self._check_schema(keys)
        except redis_py.RedisError as exc:
            self._client.close()
            raise StoreUnavailableError(
                f"cannot use the Redis store: {type(exc).__name__}"
            ) from None
        except BaseException:
            self._client.close()
            raise
        args = (self._client, keys, clock)
        self.keys = RedisKeyStore(*args)
        self.sessions = RedisSessionStore(*args)
        self.session_versions = RedisSessionVersionStore(*args)
        self.auth_sessions = RedisAuthSessionStore(*args)
        self.presign_sessions = RedisPresignSessionStore(*args)
        self.presignatures = RedisPresignaturePool(*args)
        self.identities = RedisIdentityStore(*args)
        self.credentials = RedisCredentialStore(*args)
        self.audit = RedisAuditLog(*args)

    def _check_schema(self, keys: _Keys) -> None:
        meta = keys("meta")
        self._client.hsetnx(meta, "schema_version", str(SCHEMA_VERSION))
        stored = self._client.hget(meta, "schema_version")
        if stored is not None and int(stored) > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"the Redis namespace is at schema version {int(stored)}; this cosigner knows "
                f"up to {SCHEMA_VERSION}: upgrade cosigner"
            )
        if stored is not None and int(stored) < SCHEMA_VERSION:
            # Additive changes only; record the new version so older instances refuse it.
            self._client.hset(meta, "schema_version", str(SCHEMA_VERSION))

    def close(self) -> None:
        self._stop_unit_threads()
        self._client.close()

    def purge_expired(self) -> int:
        return 0
