"""Helpers shared by the protocol and ECDSA tests: deterministic randomness, delivery."""

from __future__ import annotations

import hashlib
import itertools
from collections.abc import Callable, Mapping

from cosigner.protocol import Message, Protocol


def seeded_rng(seed: bytes | str) -> Callable[[int], bytes]:
    """A deterministic ``rng(n)`` for reproducible runs (tests only)."""
    if isinstance(seed, str):
        seed = seed.encode()
    counter = itertools.count()

    def rng(n: int) -> bytes:
        return hashlib.shake_256(seed + next(counter).to_bytes(8, "big")).digest(n)

    return rng


def collect_messages(
    sessions: Mapping[int, Protocol], *, serialize: bool = False
) -> tuple[dict[int, object], list[Message]]:
    """Run sessions to completion in lock step, returning results and every message sent."""
    sessions = dict(sessions)
    log: list[Message] = []
    pending: list[Message] = []
    for pid in sorted(sessions):
        out = sessions[pid].start()
        log.extend(out)
        pending.extend(out)
    while pending:
        # deliver every message whose recipient is in the message's round
        progressed = False
        for message in list(pending):
            recipients = (
                [p for p in sessions if p != message.sender]
                if message.recipient is None
                else [message.recipient]
            )
            ready = all(sessions[p].round == message.round or sessions[p].done for p in recipients)
            if not ready:
                continue
            pending.remove(message)
            progressed = True
            for p in recipients:
                if serialize:
                    sessions[p] = Protocol.from_bytes(sessions[p].to_bytes())
                out = sessions[p].receive(message)
                log.extend(out)
                pending.extend(out)
        if not progressed:
            raise AssertionError("delivery is stuck")
    return {p: s.result for p, s in sessions.items()}, log
