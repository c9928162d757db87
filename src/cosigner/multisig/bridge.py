"""Coordinator events across server instances: an :class:`EventBridge` and its transports.

The coordinator hands each committed :class:`~cosigner.multisig.events.Event`
to :meth:`EventBridge.publish` (its event sink). The bridge gives the event
an id and its wire form::

    {"id": "<32 hex>", "type": "proposal_ready", "groupId": "g_...",
     "proposalId": "p_..." (only for proposal events), "data": {...}, "at": <ms>}

delivers it at once to this instance's subscribers (WebSocket clients,
long-polling requests), and queues it for a background thread that appends it
to the :class:`Journal` (the event history the ``GET .../events`` routes read)
and sends it to the other instances:

* PostgreSQL: ``NOTIFY`` on one channel per namespace, in the same
  transaction as the journal insert (so a notification is never sent for an
  event the journal lost). Payloads over PostgreSQL's limit travel in chunks
  and are put back together by the receiver;
* Redis: ``PUBLISH`` on one channel per namespace, the journal a capped
  stream per group;
* SQLite and memory: local only (the journal is a SQLite file beside the
  store's, or a list).

Each instance's listener thread receives every event published on the
channel, its own included, and delivers those it has not seen (dedupe by
event id), so every WebSocket client on every instance sees every event
once. Events are public (see :mod:`cosigner.multisig.events`); delivery is at
most once per instance and best effort: a subscriber that needs certainty
reads the journal or the record.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import logging
import queue
import secrets
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final, Protocol, cast

from cosigner.multisig.events import Event

log = logging.getLogger("cosigner.multisig")

Wire = dict[str, Any]
Subscriber = Callable[[Wire], None]

SEEN_CAPACITY: Final = 50_000
NOTIFY_CHUNK: Final = 7000
"""Characters of event JSON per NOTIFY payload (PostgreSQL refuses payloads of 8000 bytes)."""
JOURNAL_PAGE: Final = 500
REDIS_STREAM_MAXLEN: Final = 10_000
PUBLISH_BATCH: Final = 200
RECONNECT_S: Final = 1.0
_STOP: Final = object()


_INSTANCE: Final = secrets.token_hex(8)
_COUNTER = itertools.count(1)


def new_event_id() -> str:
    """32 hex characters, unique across instances: a random instance prefix and a counter."""
    return f"{_INSTANCE}{next(_COUNTER):016x}"


def to_wire(event: Event, event_id: str | None = None) -> Wire:
    """The wire form of an event (see the module docstring)."""
    wire: Wire = {
        "id": event_id or new_event_id(),
        "type": event.type,
        "groupId": event.group_id,
        "data": dict(event.data),
        "at": event.at,
    }
    if event.proposal_id is not None:
        wire["proposalId"] = event.proposal_id
    return wire


def channel_name(namespace: str) -> str:
    """The NOTIFY / PUBLISH channel of a namespace."""
    return f"cosigner_multisig_events:{namespace}"


# -- journal ----------------------------------------------------------------------------------


class Journal(Protocol):
    """The event history: appended by the bridge's thread, read by the routes."""

    def append(self, wires: Sequence[Wire]) -> None: ...

    def read(
        self, group_id: str, proposal_id: str | None = None, after: int = 0, limit: int = 100
    ) -> list[Wire]:
        """Events of a group (or one proposal) with ``seq`` above ``after``, oldest first."""

    def close(self) -> None: ...


class MemoryJournal:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[Wire] = []

    def append(self, wires: Sequence[Wire]) -> None:
        with self._lock:
            for wire in wires:
                self._events.append({**wire, "seq": len(self._events) + 1})

    def read(
        self, group_id: str, proposal_id: str | None = None, after: int = 0, limit: int = 100
    ) -> list[Wire]:
        with self._lock:
            found = [
                w
                for w in self._events[after:]
                if w["groupId"] == group_id
                and (proposal_id is None or w.get("proposalId") == proposal_id)
            ]
        return found[:limit]

    def close(self) -> None:
        pass


_SQL_JOURNAL = """CREATE TABLE IF NOT EXISTS multisig_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id TEXT NOT NULL,
    group_id TEXT NOT NULL,
    proposal_id TEXT,
    at BIGINT NOT NULL,
    body TEXT NOT NULL
)"""


class SQLiteJournal:
    """The journal as a table in a SQLite file (:func:`sqlite_journal_path`).

    It commits without ``fsync`` (WAL, ``synchronous=NORMAL``): the journal is
    a best-effort history, written in batches after the changes it records.
    """

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, timeout=10.0, check_same_thread=False)
        self._lock = threading.Lock()
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._lock, self._conn:
            self._conn.execute(_SQL_JOURNAL)
            self._conn.execute(
                "CREATE INDEX IF NOT EXISTS multisig_events_by_group "
                "ON multisig_events (group_id, seq)"
            )

    def append(self, wires: Sequence[Wire]) -> None:
        with self._lock, self._conn:
            self._conn.executemany(
                "INSERT INTO multisig_events (event_id, group_id, proposal_id, at, body) "
                "VALUES (?, ?, ?, ?, ?)",
                [
                    (
                        wire["id"],
                        wire["groupId"],
                        wire.get("proposalId"),
                        wire["at"],
                        json.dumps(wire, separators=(",", ":")),
                    )
                    for wire in wires
                ],
            )

    def read(
        self, group_id: str, proposal_id: str | None = None, after: int = 0, limit: int = 100
    ) -> list[Wire]:
        sql = "SELECT seq, body FROM multisig_events WHERE group_id = ? AND seq > ?"
        params: list[object] = [group_id, after]
        if proposal_id is not None:
            sql += " AND proposal_id = ?"
            params.append(proposal_id)
        sql += " ORDER BY seq LIMIT ?"
        params.append(limit)
        with self._lock:
            rows = self._conn.execute(sql, params).fetchall()
        return [{**json.loads(body), "seq": int(seq)} for seq, body in rows]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


# -- transports -----------------------------------------------------------------------------


class Transport(Protocol):
    """Journal plus fan-out: ``send`` runs on the bridge's publisher thread."""

    @property
    def journal(self) -> Journal: ...

    def send(self, wires: Sequence[Wire]) -> None:
        """Journal and publish a batch of events, in order."""

    def listen(self, deliver: Callable[[Wire], None], stopped: threading.Event) -> None:
        """Deliver every event other instances publish until ``stopped`` is set."""

    def close(self) -> None: ...


class LocalTransport:
    """One instance (memory or SQLite): the journal only."""

    def __init__(self, journal: Journal) -> None:
        self.journal = journal

    def send(self, wires: Sequence[Wire]) -> None:
        self.journal.append(wires)

    def listen(self, deliver: Callable[[Wire], None], stopped: threading.Event) -> None:
        return

    def close(self) -> None:
        self.journal.close()


_PG_JOURNAL: Final = (
    """CREATE TABLE IF NOT EXISTS cosigner_multisig_events (
        namespace TEXT NOT NULL,
        seq BIGSERIAL NOT NULL,
        event_id TEXT NOT NULL,
        group_id TEXT NOT NULL,
        proposal_id TEXT,
        at BIGINT NOT NULL,
        body TEXT NOT NULL,
        PRIMARY KEY (namespace, seq)
    )""",
    "CREATE INDEX IF NOT EXISTS cosigner_multisig_events_by_group "
    "ON cosigner_multisig_events (namespace, group_id, seq)",
)
_PG_LOCK_KEY: Final = 0x6D73696765767473  # "msigevts"


class PostgresTransport:
    """``NOTIFY`` / ``LISTEN`` on one channel per namespace; the journal in a shared table."""

    def __init__(self, url: str, namespace: str) -> None:
        import psycopg

        self._psycopg = psycopg
        self._url = url
        self._namespace = namespace
        self._channel = channel_name(namespace)
        self._publisher: Any = None
        self._lock = threading.Lock()
        self._partial: OrderedDict[str, dict[int, str]] = OrderedDict()
        with psycopg.connect(url) as conn, conn.transaction():
            conn.execute("SELECT pg_advisory_xact_lock(%s)", (_PG_LOCK_KEY,))
            for ddl in _PG_JOURNAL:
                conn.execute(ddl.encode())
        self.journal = _PostgresJournal(self)

    def connect(self) -> Any:
        return self._psycopg.connect(self._url, autocommit=True)

    def _publisher_conn(self) -> Any:
        if self._publisher is None or self._publisher.closed:
            self._publisher = self._psycopg.connect(self._url)
        return self._publisher

    def send(self, wires: Sequence[Wire]) -> None:
        rows = []
        payloads = []
        for wire in wires:
            text = json.dumps(wire, separators=(",", ":"))
            rows.append(
                (
                    self._namespace,
                    wire["id"],
                    wire["groupId"],
                    wire.get("proposalId"),
                    wire["at"],
                    text,
                )
            )
            if len(text) <= NOTIFY_CHUNK:
                payloads.append((self._channel, "F" + text))
            else:
                parts = [text[i : i + NOTIFY_CHUNK] for i in range(0, len(text), NOTIFY_CHUNK)]
                payloads.extend(
                    (self._channel, f"C{wire['id']}:{i}:{len(parts)}:{p}")
                    for i, p in enumerate(parts)
                )
        try:
            conn = self._publisher_conn()
            with conn.transaction(), conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO cosigner_multisig_events "
                    "(namespace, event_id, group_id, proposal_id, at, body) "
                    "VALUES (%s, %s, %s, %s, %s, %s)",
                    rows,
                )
                cursor.executemany("SELECT pg_notify(%s, %s)", payloads)
        except self._psycopg.Error:
            self._drop_publisher()
            raise

    def _drop_publisher(self) -> None:
        if self._publisher is not None:
            with contextlib.suppress(self._psycopg.Error):
                self._publisher.close()
            self._publisher = None

    def _decode(self, payload: str) -> Wire | None:
        if payload.startswith("F"):
            found: Wire = json.loads(payload[1:])
            return found
        if not payload.startswith("C"):
            return None
        event_id, index, count, chunk = payload[1:].split(":", 3)
        parts = self._partial.setdefault(event_id, {})
        parts[int(index)] = chunk
        while len(self._partial) > 1000:
            self._partial.popitem(last=False)
        if len(parts) < int(count):
            return None
        del self._partial[event_id]
        joined: Wire = json.loads("".join(parts[i] for i in range(int(count))))
        return joined

    def listen(self, deliver: Callable[[Wire], None], stopped: threading.Event) -> None:
        from psycopg import sql

        while not stopped.is_set():
            try:
                with self.connect() as conn:
                    conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
                    while not stopped.is_set():
                        for notify in conn.notifies(timeout=0.5):
                            try:
                                wire = self._decode(notify.payload)
                            except (ValueError, KeyError):
                                log.warning("dropped a malformed multisig event notification")
                                continue
                            if wire is not None:
                                deliver(wire)
            except self._psycopg.Error:
                if not stopped.is_set():
                    log.warning("multisig event listener lost PostgreSQL; reconnecting")
                    stopped.wait(RECONNECT_S)

    def close(self) -> None:
        with self._lock:
            self._drop_publisher()


class _PostgresJournal:
    def __init__(self, transport: PostgresTransport) -> None:
        self._transport = transport

    def append(self, wires: Sequence[Wire]) -> None:  # the transport writes with its NOTIFY
        raise NotImplementedError

    def read(
        self, group_id: str, proposal_id: str | None = None, after: int = 0, limit: int = 100
    ) -> list[Wire]:
        sql = (
            "SELECT seq, body FROM cosigner_multisig_events "
            "WHERE namespace = %s AND group_id = %s AND seq > %s"
        )
        params: list[object] = [self._transport._namespace, group_id, after]
        if proposal_id is not None:
            sql += " AND proposal_id = %s"
            params.append(proposal_id)
        sql += " ORDER BY seq LIMIT %s"
        params.append(limit)
        with self._transport.connect() as conn:
            rows = conn.execute(sql.encode(), params).fetchall()
        return [{**json.loads(body), "seq": int(seq)} for seq, body in rows]

    def close(self) -> None:
        pass


class RedisTransport:
    """``PUBLISH`` / ``SUBSCRIBE`` on one channel per namespace; a capped stream per group."""

    def __init__(self, url: str, namespace: str, key_prefix: str = "cosigner") -> None:
        import redis

        self._redis_module = redis
        self._client = redis.Redis.from_url(url, decode_responses=True)
        self._url = url
        self._channel = f"{key_prefix}:{{{namespace}}}:ms:events"
        self._prefix = f"{key_prefix}:{{{namespace}}}:ms:journal:"
        self.journal = _RedisJournal(self)

    def send(self, wires: Sequence[Wire]) -> None:
        pipe = self._client.pipeline(transaction=True)
        for wire in wires:
            text = json.dumps(wire, separators=(",", ":"))
            pipe.xadd(
                self._prefix + wire["groupId"],
                {"body": text, "proposal": wire.get("proposalId") or ""},
                maxlen=REDIS_STREAM_MAXLEN,
                approximate=True,
            )
            pipe.publish(self._channel, text)
        pipe.execute()

    def listen(self, deliver: Callable[[Wire], None], stopped: threading.Event) -> None:
        while not stopped.is_set():
            client = self._redis_module.Redis.from_url(self._url, decode_responses=True)
            pubsub = cast(Any, client).pubsub(ignore_subscribe_messages=True)
            try:
                pubsub.subscribe(self._channel)
                while not stopped.is_set():
                    message = pubsub.get_message(timeout=0.5)
                    if message is None or message.get("type") != "message":
                        continue
                    try:
                        wire = json.loads(message["data"])
                    except ValueError:
                        log.warning("dropped a malformed multisig event message")
                        continue
                    deliver(wire)
            except self._redis_module.RedisError:
                if not stopped.is_set():
                    log.warning("multisig event listener lost Redis; reconnecting")
                    stopped.wait(RECONNECT_S)
            finally:
                pubsub.close()
                client.close()

    def close(self) -> None:
        self._client.close()


class _RedisJournal:
    def __init__(self, transport: RedisTransport) -> None:
        self._transport = transport

    def append(self, wires: Sequence[Wire]) -> None:  # the transport writes with its PUBLISH
        raise NotImplementedError

    def read(
        self, group_id: str, proposal_id: str | None = None, after: int = 0, limit: int = 100
    ) -> list[Wire]:
        # Stream ids are "<ms>-<n>"; seq is their position, counted over the whole stream.
        entries = cast(
            list[tuple[str, dict[str, str]]],
            self._transport._client.xrange(self._transport._prefix + group_id),
        )
        out: list[Wire] = []
        for seq, (_, fields) in enumerate(entries, start=1):
            if seq <= after:
                continue
            if proposal_id is not None and fields.get("proposal") != proposal_id:
                continue
            out.append({**json.loads(fields["body"]), "seq": seq})
            if len(out) >= limit:
                break
        return out

    def close(self) -> None:
        pass


# -- the bridge -----------------------------------------------------------------------------


class EventBridge:
    """The coordinator's event sink: local delivery now, journal and other instances soon."""

    def __init__(self, transport: Transport) -> None:
        self._transport = transport
        self._lock = threading.Lock()
        self._subscribers: dict[int, Subscriber] = {}
        self._next = 0
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._outbox: queue.Queue[Any] = queue.Queue()
        self._stopped = threading.Event()
        self._threads: list[threading.Thread] = []
        self._publisher = threading.Thread(
            target=self._publish_loop, name="multisig-events-out", daemon=True
        )
        self._started = False

    @property
    def journal(self) -> Journal:
        return self._transport.journal

    def start_listening(self) -> None:
        """Start receiving other instances' events (a no-op for a local transport)."""
        if any(t.name == "multisig-events-in" for t in self._threads):
            return
        thread = threading.Thread(
            target=self._transport.listen,
            args=(self._receive, self._stopped),
            name="multisig-events-in",
            daemon=True,
        )
        thread.start()
        self._threads.append(thread)

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber(wire)`` for every event (from any thread); returns unsubscribe."""
        with self._lock:
            token = self._next
            self._next += 1
            self._subscribers[token] = subscriber

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(token, None)

        return unsubscribe

    def _first_sight(self, event_id: str) -> bool:
        with self._lock:
            if event_id in self._seen:
                return False
            self._seen[event_id] = None
            while len(self._seen) > SEEN_CAPACITY:
                self._seen.popitem(last=False)
            return True

    def _deliver(self, wire: Wire) -> None:
        with self._lock:
            targets = list(self._subscribers.values())
        for subscriber in targets:
            try:
                subscriber(wire)
            except Exception:  # one subscriber's failure must not starve the others
                log.exception("multisig event subscriber failed on %s", wire.get("type"))

    def publish(self, event: Event) -> None:
        """The coordinator's sink: called after the transaction that raised ``event`` commits."""
        wire = to_wire(event)
        self._first_sight(wire["id"])
        self._deliver(wire)
        self._start_publisher()
        self._outbox.put(wire)

    def _start_publisher(self) -> None:
        if self._started:
            return
        with self._lock:
            if not self._started:
                self._publisher.start()
                self._started = True

    __call__ = publish

    def _receive(self, wire: Mapping[str, Any]) -> None:
        event_id = wire.get("id")
        if not isinstance(event_id, str) or not isinstance(wire.get("groupId"), str):
            return
        if self._first_sight(event_id):
            self._deliver(dict(wire))

    def _publish_loop(self) -> None:
        while True:
            batch: list[Wire] = []
            markers: list[_Marker] = []
            item = self._outbox.get()
            stop = False
            while True:
                if item is _STOP:
                    stop = True
                elif isinstance(item, _Marker):
                    markers.append(item)
                else:
                    batch.append(item)
                if stop or len(batch) >= PUBLISH_BATCH:
                    break
                try:
                    item = self._outbox.get_nowait()
                except queue.Empty:
                    break
            if batch:
                self._send(batch)
            for marker in markers:
                marker.done.set()
            if stop:
                return

    def _send(self, batch: list[Wire]) -> None:
        for attempt in range(3):
            try:
                self._transport.send(batch)
                return
            except Exception:
                log.warning(
                    "could not publish %d multisig events (attempt %d)",
                    len(batch),
                    attempt + 1,
                    exc_info=True,
                )
                self._stopped.wait(0.2 * (attempt + 1))

    def flush(self, timeout_s: float = 5.0) -> None:
        """Wait until every event published so far has been sent (tests, shutdown)."""
        if not self._started:
            return
        done = threading.Event()
        self._outbox.put(_Marker(done))
        done.wait(timeout_s)

    def close(self) -> None:
        self.flush()
        self._stopped.set()
        if self._started:
            self._outbox.put(_STOP)
            self._publisher.join(timeout=5)
        for thread in self._threads:
            thread.join(timeout=5)
        self._transport.close()


class _Marker(dict[str, Any]):
    """A queue entry that only signals the publisher reached it."""

    def __init__(self, done: threading.Event) -> None:
        super().__init__()
        self.done = done


def sqlite_journal_path(store_path: str) -> str:
    """The journal's own file beside the store's (``cosigner.db`` -> ``cosigner.events.db``).

    A file of its own, so journal writes never wait for the store's write lock
    (nor make the coordinator wait for theirs).
    """
    path = Path(store_path)
    return str(path.with_name(f"{path.stem}.events{path.suffix or '.db'}"))


def open_transport(url: str, namespace: str) -> Transport:
    """The transport for a store URL: PostgreSQL, Redis, or local (SQLite file or memory)."""
    from cosigner.multisig.backends import split_store_url, store_scheme

    scheme = store_scheme(url)
    driver_url, options = split_store_url(url)
    if scheme == "postgresql":
        return PostgresTransport(driver_url, namespace)
    if scheme == "redis":
        return RedisTransport(driver_url, namespace, options.get("key_prefix", "cosigner"))
    if scheme == "sqlite":
        return LocalTransport(SQLiteJournal(sqlite_journal_path(driver_url[len("sqlite:///") :])))
    return LocalTransport(MemoryJournal())


__all__ = [
    "EventBridge",
    "Journal",
    "LocalTransport",
    "MemoryJournal",
    "PostgresTransport",
    "RedisTransport",
    "SQLiteJournal",
    "Transport",
    "Wire",
    "channel_name",
    "open_transport",
    "to_wire",
]
