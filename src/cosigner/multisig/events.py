"""Coordinator events and an in-process event bus (the WebSocket layer adapts it).

The coordinator publishes an :class:`Event` after the transaction that
caused it commits, so a subscriber never hears of a change that was rolled
back. Events carry public values only (identity keys, counts, the group key,
the aggregated signature), never a share.

Event types and their ``data``:

* ``group_created``: ``threshold``, ``owners`` (hex keys), ``created_by``;
* ``dkg_progress``: ``session``, ``kind`` (``dkg``/``refresh``), ``stage``
  (the stage now open), ``step`` (the message kind received), ``owner``,
  ``received``, ``expected``;
* ``group_active``: ``group_public_key``, ``epoch``;
* ``dkg_failed`` / ``refresh_failed``: ``session``, ``code``, ``message``,
  ``culprits`` (hex keys), ``reported_by``;
* ``refresh_started``, ``refresh_completed``: ``session``, ``epoch``,
  ``started_by`` / ``group_public_key``;
* ``proposal_created``: ``kind``, ``nonce``, ``proposer``, ``summary``,
  ``expires_at``;
* ``commitment_added``: ``owner``, ``received``, ``threshold``, ``attempt``,
  ``signing_package_fixed``;
* ``share_added``: ``owner``, ``received``, ``threshold``, ``attempt``;
* ``share_rejected``: ``owner``, ``code``, ``attempt`` (the new attempt),
  ``status``;
* ``proposal_ready``: ``signature`` (hex), ``nonce``, ``result``;
* ``proposal_executed``: ``nonce``, ``execution_ref``;
* ``proposal_cancelled``: ``reason`` (``cancelled_by_proposer`` or
  ``superseded``), ``nonce``;
* ``proposal_expired``: ``expires_at``;
* ``proposal_failed``: ``reason``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("cosigner.multisig")

EVENT_TYPES: tuple[str, ...] = (
    "group_created",
    "dkg_progress",
    "group_active",
    "dkg_failed",
    "refresh_started",
    "refresh_completed",
    "refresh_failed",
    "proposal_created",
    "commitment_added",
    "share_added",
    "share_rejected",
    "proposal_ready",
    "proposal_executed",
    "proposal_cancelled",
    "proposal_expired",
    "proposal_failed",
)


@dataclass(frozen=True, slots=True)
class Event:
    type: str
    group_id: str
    at: int
    proposal_id: str | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "group_id": self.group_id,
            "proposal_id": self.proposal_id,
            "at": self.at,
            "data": dict(self.data),
        }


EventSink = Callable[[Event], None]
"""Anything that takes events: a bus's ``publish``, a list's ``append``, a test spy."""


class EventBus:
    """Fan-out to subscribers, optionally filtered by group. A failing subscriber is skipped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._subscribers: dict[int, tuple[str | None, EventSink]] = {}
        self._next = 0

    def subscribe(self, callback: EventSink, *, group_id: str | None = None) -> Callable[[], None]:
        """Call ``callback`` for each event (of ``group_id`` only if given); returns unsubscribe."""
        with self._lock:
            token = self._next
            self._next += 1
            self._subscribers[token] = (group_id, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(token, None)

        return unsubscribe

    def publish(self, event: Event) -> None:
        with self._lock:
            targets = list(self._subscribers.values())
        for group_id, callback in targets:
            if group_id is not None and group_id != event.group_id:
                continue
            try:
                callback(event)
            except Exception:  # a subscriber's bug must not undo a committed change
                log.exception("event subscriber failed on %s", event.type)

    __call__ = publish


__all__ = ["EVENT_TYPES", "Event", "EventBus", "EventSink"]
