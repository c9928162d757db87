"""Running protocol sessions in one process: a transport for tests, tools and benchmarks.

:class:`LocalNetwork` plays the network between sessions that all live in
this process. It delivers every broadcast to every other participant and
every private message to its recipient, and it holds a message that arrives
before its round (an early broadcast from a faster peer) until the
recipient reaches that round: that buffering belongs to the transport, never
to the state machine, which only ever accepts the current round.

With ``serialize=True`` it replaces the recipient's session by
``Protocol.from_bytes(session.to_bytes())`` before every delivery, which is
what a server that stores sessions between requests does. With ``wire=True``
every message is delivered as ``Message.from_bytes(message.to_bytes())``, as
it would be after crossing a network. With a ``shuffle`` random generator it
delivers queued messages in a random order.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from typing import Any

from cosigner.protocol.base import Protocol
from cosigner.protocol.errors import ProtocolStateError
from cosigner.protocol.message import Message


class LocalNetwork:
    """Delivers messages between in-process sessions until all of them finish."""

    def __init__(
        self,
        sessions: Mapping[int, Protocol],
        *,
        serialize: bool = False,
        shuffle: random.Random | None = None,
        wire: bool = False,
    ) -> None:
        for pid, session in sessions.items():
            if session.me != pid:
                raise ValueError(f"session for participant {session.me} filed under {pid}")
        self.sessions: dict[int, Protocol] = dict(sessions)
        self.serialize = serialize
        self.shuffle = shuffle
        self.wire = wire
        self.bytes_sent: dict[int, int] = dict.fromkeys(self.sessions, 0)
        self.messages_sent: dict[int, int] = dict.fromkeys(self.sessions, 0)
        self.deliveries = 0
        self._queue: deque[tuple[int, Message]] = deque()
        self._held: dict[int, list[Message]] = {pid: [] for pid in self.sessions}

    def _session(self, pid: int) -> Protocol:
        session = self.sessions[pid]
        if self.serialize:
            session = Protocol.from_bytes(session.to_bytes())
            self.sessions[pid] = session
        return session

    def _post(self, messages: list[Message]) -> None:
        for message in messages:
            size = len(message.to_bytes())
            if message.recipient is None:
                recipients = [p for p in self.sessions if p != message.sender]
            else:
                recipients = [message.recipient]
            self.bytes_sent[message.sender] += size * len(recipients)
            self.messages_sent[message.sender] += len(recipients)
            for recipient in recipients:
                if recipient not in self.sessions:
                    raise ProtocolStateError(f"message for unknown participant {recipient}")
                self._queue.append((recipient, message))

    def _deliver(self, pid: int, message: Message) -> None:
        if self.wire:
            message = Message.from_bytes(message.to_bytes())
        session = self._session(pid)
        if not session.done and message.round > session.round:
            self._held[pid].append(message)
            return
        self.deliveries += 1
        self._post(session.receive(message))
        # Held messages whose round has now come.
        progressed = True
        while progressed:
            progressed = False
            for held in list(self._held[pid]):
                if held.round == session.round and not session.done:
                    self._held[pid].remove(held)
                    session = self._session(pid)
                    self.deliveries += 1
                    self._post(session.receive(held))
                    progressed = True

    def start(self) -> None:
        for pid in sorted(self.sessions):
            self._post(self._session(pid).start())

    def run(self) -> dict[int, Any]:
        """Start every session, deliver until quiet, and return each participant's result."""
        self.start()
        while self._queue:
            if self.shuffle is not None and len(self._queue) > 1:
                index = self.shuffle.randrange(len(self._queue))
                self._queue.rotate(-index)
            pid, message = self._queue.popleft()
            self._deliver(pid, message)
        stuck = [pid for pid, s in self.sessions.items() if not s.done]
        if stuck:
            raise ProtocolStateError(f"the network went quiet before participants {stuck} finished")
        return {pid: s.result for pid, s in sorted(self.sessions.items())}


def run_local(
    sessions: Mapping[int, Protocol],
    *,
    serialize: bool = False,
    shuffle: random.Random | None = None,
) -> dict[int, Any]:
    """Run in-process sessions to completion; see :class:`LocalNetwork`."""
    return LocalNetwork(sessions, serialize=serialize, shuffle=shuffle).run()


__all__ = ["LocalNetwork", "run_local"]
