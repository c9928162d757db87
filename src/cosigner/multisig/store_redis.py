"""The multisig store on Redis (redis-py): optimistic transactions committed by one Lua script.

The contract of :mod:`cosigner.multisig.store` needs a transaction in which
reads see the transaction's own writes and a refused request writes nothing.
Redis has no rollback, so a transaction here is optimistic:

* reads go to Redis, overlaid with the transaction's own pending writes;
* writes are buffered, each with the condition it was made under: a
  compare-and-swap on a record's ``version``, insert-if-absent for a new
  record, a DKG message or a commitment claim, presence for a challenge
  taken;
* on commit one Lua script checks every condition and, only if all hold,
  applies every write (Redis runs a script without interleaving, so this is
  atomic). A failed condition means another request got there first:
  :class:`~cosigner.multisig.errors.StaleState`, nothing written, and the
  caller retries (then sees the other request's write and answers
  accordingly: ``already_submitted``, ``commitment_reused``, ...).

A failure before commit simply drops the buffer. Insert-if-absent methods
that answer a boolean (``add_keygen_message``, ``claim_commitment``) answer
from what Redis holds when they are called; a race lost between then and
the commit is the :class:`StaleState` above.

Keys: ``{prefix}:{{{namespace}}}:ms:...``; the namespace is a hash tag, so
every key of a namespace is in one cluster slot, which the commit script
(whose keys come in its argument) relies on. Records are hashes
(``version``, ``status``, ``data``: the record's JSON); indexes are sets and
sorted sets kept by the same script. ``list_groups`` reads the ``groups``
sorted set (every id at score 0, so in lexicographic order); groups written
before that index existed are added to it, once per namespace, by the first
store opened on it (a ``SCAN`` of the namespace's group records). Only
public values are stored.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Final, cast
from urllib.parse import quote, unquote

import redis as redis_py

from cosigner.multisig.errors import StaleState
from cosigner.multisig.identity import LoginChallenge
from cosigner.multisig.records import LIVE_STATUSES, Group, KeygenMessage, MessageKind, Proposal
from cosigner.multisig.store import check_page
from cosigner.store.errors import StoreConfigError, StoreUnavailableError

_COMMIT: Final = """
local spec = cjson.decode(ARGV[1])
for i, c in ipairs(spec.checks) do
  local kind, key = c[1], c[2]
  if kind == 'absent' then
    if redis.call('EXISTS', key) == 1 then return i end
  elseif kind == 'present' then
    if redis.call('EXISTS', key) == 0 then return i end
  elseif kind == 'version' then
    if redis.call('HGET', key, 'version') ~= c[3] then return i end
  elseif kind == 'field_absent' then
    if redis.call('HEXISTS', key, c[3]) == 1 then return i end
  end
end
for _, op in ipairs(spec.ops) do
  redis.call(unpack(op))
end
return 0
"""

_DELETED: Final = object()


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.b64decode(text)


def _glob_escape(text: str) -> str:
    """``text`` as a literal in a Redis ``MATCH`` pattern."""
    return "".join("\\" + c if c in "\\*?[]" else c for c in text)


@dataclass
class _Tx:
    checks: list[list[str]] = field(default_factory=list)
    ops: list[list[str]] = field(default_factory=list)
    records: dict[str, Any] = field(default_factory=dict)
    """Pending record writes by key: the new record, or ``_DELETED``."""
    fields: dict[tuple[str, str], str] = field(default_factory=dict)
    """Pending hash-field inserts (DKG messages) by (key, field)."""
    claimed: set[str] = field(default_factory=set)


class _Local(threading.local):
    tx: _Tx | None = None
    depth: int = 0


class RedisMultisigStore:
    """The multisig store contract over Redis; safe to share between threads."""

    backend = "redis"

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "default",
        key_prefix: str = "cosigner",
        client: redis_py.Redis | None = None,
    ) -> None:
        if not url.startswith(("redis://", "rediss://")):
            raise StoreConfigError("a Redis store URL starts with redis:// or rediss://")
        if not namespace or len(namespace) > 64 or any(c in namespace for c in "{}"):
            raise StoreConfigError("the namespace is 1 to 64 characters without braces")
        self.namespace = namespace
        self._prefix = f"{key_prefix}:{{{namespace}}}:ms:"
        self._redis: redis_py.Redis = client or redis_py.Redis.from_url(url, decode_responses=True)
        self._local = _Local()
        try:
            self._commit_script = self._redis.register_script(_COMMIT)
            self._redis.ping()
            self._index_groups()
        except redis_py.RedisError as exc:
            raise StoreUnavailableError(
                f"cannot connect to the Redis multisig store: {type(exc).__name__}"
            ) from None

    # -- keys -----------------------------------------------------------------------------------

    def _key(self, *parts: str) -> str:
        return self._prefix + ":".join(quote(p, safe="") for p in parts)

    def _group_key(self, group_id: str) -> str:
        return self._key("group", group_id)

    def _proposal_key(self, proposal_id: str) -> str:
        return self._key("proposal", proposal_id)

    def _index_groups(self) -> None:
        """Add the groups stored before the ``groups`` index existed to it (once a namespace)."""
        marker = self._key("groups-indexed")
        if self._redis.exists(marker):
            return
        head = self._group_key("")
        ids = [
            unquote((key.decode() if isinstance(key, bytes) else str(key))[len(head) :])
            for key in self._redis.scan_iter(match=_glob_escape(head) + "*", count=1000)
        ]
        for start in range(0, len(ids), 1000):
            self._redis.zadd(self._key("groups"), dict.fromkeys(ids[start : start + 1000], 0))
        self._redis.set(marker, "1")

    # -- transactions ---------------------------------------------------------------------------

    @contextmanager
    def _transaction(self) -> Iterator[_Tx]:
        local = self._local
        if local.tx is not None:
            local.depth += 1
            try:
                yield local.tx
            finally:
                local.depth -= 1
            return
        tx = _Tx()
        local.tx, local.depth = tx, 1
        try:
            yield tx
        finally:
            local.tx, local.depth = None, 0
        self._commit(tx)

    def _commit(self, tx: _Tx) -> None:
        if not tx.ops:
            return
        spec = json.dumps({"checks": tx.checks, "ops": tx.ops})
        try:
            failed = int(cast(Any, self._commit_script(keys=[], args=[spec])))
        except redis_py.RedisError as exc:
            raise StoreUnavailableError(
                f"the Redis multisig store did not answer: {type(exc).__name__}"
            ) from None
        if failed:
            raise StaleState("a concurrent request changed the same records; retry")

    def transaction(self) -> AbstractContextManager[None]:
        @contextmanager
        def joined() -> Iterator[None]:
            with self._transaction():
                yield

        return joined()

    def _call(self, method: str, *args: Any) -> Any:
        try:
            return getattr(self._redis, method)(*args)
        except redis_py.RedisError as exc:
            raise StoreUnavailableError(
                f"the Redis multisig store did not answer: {type(exc).__name__}"
            ) from None

    def _record(self, key: str) -> str | None:
        """A record's JSON, as this transaction sees it."""
        tx = self._local.tx
        if tx is not None and key in tx.records:
            pending = tx.records[key]
            return None if pending is _DELETED else cast(str, pending)
        value = self._call("hget", key, "data")
        return None if value is None else str(value)

    # -- groups ---------------------------------------------------------------------------------

    def insert_group(self, group: Group) -> Group:
        stored = replace(group, version=1)
        key = self._group_key(group.group_id)
        with self._transaction() as tx:
            if self._record(key) is not None:
                raise StaleState(f"group {group.group_id} already exists")
            data = stored.to_json()
            tx.checks.append(["absent", key])
            tx.ops.append(["HSET", key, "version", "1", "status", group.status, "data", data])
            tx.records[key] = data
            tx.ops.append(["ZADD", self._key("groups"), "0", group.group_id])
            for owner in group.owner_keys:
                tx.ops.append(["SADD", self._key("owner", owner.hex()), group.group_id])
        return stored

    def get_group(self, group_id: str) -> Group | None:
        text = self._record(self._group_key(group_id))
        return None if text is None else Group.from_json(text)

    def update_group(self, group: Group) -> Group:
        key = self._group_key(group.group_id)
        stored = replace(group, version=group.version + 1)
        with self._transaction() as tx:
            current = self.get_group(group.group_id)
            if current is None or current.version != group.version:
                raise StaleState(f"group {group.group_id} changed since it was read; retry")
            data = stored.to_json()
            if key not in tx.records:
                tx.checks.append(["version", key, str(group.version)])
            tx.ops.append(
                ["HSET", key, "version", str(stored.version), "status", stored.status, "data", data]
            )
            tx.records[key] = data
        return stored

    def groups_for_owner(self, owner: bytes) -> list[Group]:
        ids = set(self._call("smembers", self._key("owner", owner.hex())))
        tx = self._local.tx
        if tx is not None:
            prefix = self._group_key("")
            for key, text in tx.records.items():
                if key.startswith(prefix) and text is not _DELETED:
                    group = Group.from_json(cast(str, text))
                    if owner in group.owner_keys:
                        ids.add(group.group_id)
        groups = [g for g in (self.get_group(i) for i in ids) if g is not None]
        return sorted(groups, key=lambda g: (g.created_at, g.group_id))

    def list_groups(self, limit: int, after: str | None = None) -> list[Group]:
        check_page(limit, after)
        low = "-" if after is None else "(" + after
        ids = set(self._call("zrangebylex", self._key("groups"), low, "+", 0, limit))
        tx = self._local.tx
        pending = {} if tx is None else tx.records
        head = self._group_key("")
        ids.update(  # this transaction's own inserts
            unquote(key[len(head) :])
            for key, text in pending.items()
            if key.startswith(head) and text is not _DELETED
        )
        ordered = sorted(i for i in ids if after is None or i > after)
        page = [self._group_key(i) for i in ordered[:limit]]
        stored = [key for key in page if key not in pending]
        try:  # one round trip for the page
            pipe = self._redis.pipeline(transaction=False)
            for key in stored:
                pipe.hget(key, "data")
            texts: dict[str, Any] = dict(zip(stored, pipe.execute(), strict=True))
        except redis_py.RedisError as exc:
            raise StoreUnavailableError(
                f"the Redis multisig store did not answer: {type(exc).__name__}"
            ) from None
        texts.update((key, pending[key]) for key in page if key in pending)
        return [
            Group.from_json(str(texts[key]))
            for key in page
            if texts[key] is not None and texts[key] is not _DELETED
        ]

    # -- keygen messages ------------------------------------------------------------------------

    def _messages_key(self, group_id: str, session: str, kind: str) -> str:
        return self._key("messages", group_id, session, kind)

    def add_keygen_message(self, message: KeygenMessage) -> bool:
        key = self._messages_key(message.group_id, message.session, message.kind)
        name = f"{message.sender.hex()}:{message.recipient.hex()}"
        with self._transaction() as tx:
            if (key, name) in tx.fields or self._call("hexists", key, name):
                return False
            value = json.dumps(
                {
                    "body": _b64(message.body),
                    "signature": _b64(message.signature),
                    "created_at": message.created_at,
                }
            )
            tx.checks.append(["field_absent", key, name])
            tx.ops.append(["HSET", key, name, value])
            tx.fields[(key, name)] = value
            return True

    def keygen_messages(
        self, group_id: str, session: str, kind: MessageKind
    ) -> list[KeygenMessage]:
        key = self._messages_key(group_id, session, kind)
        found: dict[str, str] = dict(self._call("hgetall", key))
        tx = self._local.tx
        if tx is not None:
            for (k, name), value in tx.fields.items():
                if k == key:
                    found[name] = value
        out = []
        for name, value in found.items():
            sender, recipient = name.split(":")
            d = json.loads(value)
            out.append(
                KeygenMessage(
                    group_id,
                    session,
                    kind,
                    bytes.fromhex(sender),
                    bytes.fromhex(recipient),
                    _unb64(d["body"]),
                    _unb64(d["signature"]),
                    int(d["created_at"]),
                )
            )
        return sorted(out, key=lambda m: (m.created_at, m.sender.hex(), m.recipient.hex()))

    # -- proposals ------------------------------------------------------------------------------

    def _write_proposal(self, tx: _Tx, key: str, proposal: Proposal) -> None:
        data = proposal.to_json()
        tx.ops.append(
            [
                "HSET",
                key,
                "version",
                str(proposal.version),
                "status",
                proposal.status,
                "data",
                data,
            ]
        )
        live = self._key("live")
        if proposal.status in LIVE_STATUSES:
            tx.ops.append(["ZADD", live, str(proposal.expires_at), proposal.proposal_id])
        else:
            tx.ops.append(["ZREM", live, proposal.proposal_id])
        tx.records[key] = data

    def insert_proposal(self, proposal: Proposal) -> Proposal:
        stored = replace(proposal, version=1)
        key = self._proposal_key(proposal.proposal_id)
        with self._transaction() as tx:
            if self._record(key) is not None:
                raise StaleState(f"proposal {proposal.proposal_id} already exists")
            tx.checks.append(["absent", key])
            self._write_proposal(tx, key, stored)
            tx.ops.append(
                [
                    "ZADD",
                    self._key("proposals", proposal.group_id),
                    str(proposal.created_at),
                    proposal.proposal_id,
                ]
            )
        return stored

    def get_proposal(self, proposal_id: str) -> Proposal | None:
        text = self._record(self._proposal_key(proposal_id))
        return None if text is None else Proposal.from_json(text)

    def update_proposal(self, proposal: Proposal) -> Proposal:
        key = self._proposal_key(proposal.proposal_id)
        stored = replace(proposal, version=proposal.version + 1)
        with self._transaction() as tx:
            current = self.get_proposal(proposal.proposal_id)
            if current is None or current.version != proposal.version:
                raise StaleState(
                    f"proposal {proposal.proposal_id} changed since it was read; retry"
                )
            if key not in tx.records:
                tx.checks.append(["version", key, str(proposal.version)])
            self._write_proposal(tx, key, stored)
        return stored

    def _pending_proposals(self) -> list[Proposal]:
        tx = self._local.tx
        if tx is None:
            return []
        prefix = self._proposal_key("")
        return [
            Proposal.from_json(cast(str, text))
            for key, text in tx.records.items()
            if key.startswith(prefix) and text is not _DELETED
        ]

    def list_proposals(
        self, group_id: str, statuses: Sequence[str] | None = None
    ) -> list[Proposal]:
        if statuses is not None and not statuses:
            return []
        ids = set(self._call("zrange", self._key("proposals", group_id), 0, -1))
        ids.update(p.proposal_id for p in self._pending_proposals() if p.group_id == group_id)
        found = [p for p in (self.get_proposal(i) for i in ids) if p is not None]
        return sorted(
            (p for p in found if statuses is None or p.status in statuses),
            key=lambda p: (p.created_at, p.proposal_id),
        )

    def expiring_proposals(self, now: int) -> list[Proposal]:
        ids = set(self._call("zrangebyscore", self._key("live"), "-inf", now))
        ids.update(p.proposal_id for p in self._pending_proposals())
        found = [p for p in (self.get_proposal(i) for i in ids) if p is not None]
        return sorted(
            (p for p in found if p.status in LIVE_STATUSES and p.expires_at <= now),
            key=lambda p: (p.expires_at, p.proposal_id),
        )

    # -- commitments and challenges -------------------------------------------------------------

    def claim_commitment(self, group_id: str, digest: bytes, proposal_id: str) -> bool:
        key = self._key("commitment", digest.hex())
        with self._transaction() as tx:
            if key in tx.claimed or self._call("exists", key):
                return False
            tx.claimed.add(key)
            tx.checks.append(["absent", key])
            tx.ops.append(["SET", key, f"{group_id} {proposal_id}"])
            return True

    def put_challenge(self, challenge: LoginChallenge) -> None:
        key = self._key("challenge", challenge.challenge_id)
        with self._transaction() as tx:
            if self._record(key) is not None:
                raise StaleState("a challenge with this id already exists")
            data = json.dumps(challenge.to_dict())
            tx.checks.append(["absent", key])
            tx.ops.append(["HSET", key, "data", data])
            tx.ops.append(
                ["ZADD", self._key("challenges"), str(challenge.expires_at), challenge.challenge_id]
            )
            tx.records[key] = data

    def take_challenge(self, challenge_id: str) -> LoginChallenge | None:
        key = self._key("challenge", challenge_id)
        with self._transaction() as tx:
            text = self._record(key)
            if text is None:
                return None
            if key not in tx.records:
                tx.checks.append(["present", key])
            tx.ops.append(["DEL", key])
            tx.ops.append(["ZREM", self._key("challenges"), challenge_id])
            tx.records[key] = _DELETED
            return LoginChallenge.from_dict(json.loads(text))

    def purge_challenges(self, now: int) -> int:
        with self._transaction() as tx:
            ids = list(self._call("zrangebyscore", self._key("challenges"), "-inf", now))
            for challenge_id in ids:
                key = self._key("challenge", challenge_id)
                tx.ops.append(["DEL", key])
                tx.ops.append(["ZREM", self._key("challenges"), challenge_id])
                tx.records[key] = _DELETED
            return len(ids)

    def close(self) -> None:
        self._redis.close()

    def __repr__(self) -> str:
        return f"RedisMultisigStore(namespace={self.namespace!r})"


__all__ = ["RedisMultisigStore"]
