"""Echo checks: detect a broadcast that reached participants differently, and who sent it.

Cait-Sith sends some values "to every party" and relies on the parties
seeing the same ones: a reliable (echo) broadcast in near/threshold-signatures'
DKG (docs/network-layer.md), a confirmation hash in triple generation. Here
each participant echoes, one round later, a digest of every participant's
broadcast as it received it (its own included), in participant order.
Comparing the echoes with our own digests tells who broke the broadcast:

* echoer ``E`` reports a different digest for sender ``j``, a third party:
  ``j`` sent different values to different participants (``j`` is blamed),
  unless ``j``'s own echo of its broadcast agrees with ours, in which case
  ``E``'s report is the odd one out (``E`` is blamed);
* ``E`` reports a different digest for its own broadcast: ``E`` sent us
  something other than what it says it sent (``E`` is blamed);
* ``E`` reports a different digest for *our* broadcast: ``E`` received
  something we did not send, or lies about it (``E`` is blamed).

As with the echo broadcast of the specification, a lying echoer can accuse
an honest sender; every honest participant aborts either way, so no two
honest participants ever continue with different values.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence

from cosigner.protocol.errors import InconsistentConfirmationError

DIGEST_SIZE = 32


def broadcast_digest(label: bytes, sender: int, value: bytes) -> bytes:
    """The digest of one participant's broadcast value, as echoed."""
    h = hashlib.sha256(b"cosigner/protocol/echo/v1")
    h.update(len(label).to_bytes(2, "big") + label)
    h.update(sender.to_bytes(4, "big"))
    h.update(value)
    return h.digest()


def echo_vector(digests: Mapping[int, bytes], participants: Sequence[int]) -> bytes:
    """Our echo: every participant's digest, in participant order, concatenated."""
    return b"".join(digests[p] for p in participants)


def split_echo(data: bytes, count: int) -> list[bytes]:
    return [data[i : i + DIGEST_SIZE] for i in range(0, DIGEST_SIZE * count, DIGEST_SIZE)]


def check_echoes(
    what: str,
    me: int,
    participants: Sequence[int],
    mine: Mapping[int, bytes],
    echoes: Mapping[int, bytes],
) -> None:
    """Raise :class:`InconsistentConfirmationError` naming who broke the broadcast, if anyone."""
    claims = {e: split_echo(v, len(participants)) for e, v in echoes.items()}
    index = {p: i for i, p in enumerate(participants)}
    for echoer, theirs in sorted(claims.items()):
        for sender, digest in zip(participants, theirs, strict=True):
            if digest == mine[sender]:
                continue
            if sender in (echoer, me):
                culprit = echoer
            else:
                # The sender's own claim sides with us: the echoer's report is the odd one.
                own = claims.get(sender)
                culprit = (
                    echoer if own is not None and own[index[sender]] == mine[sender] else sender
                )
            raise InconsistentConfirmationError(
                f"participants saw different {what} from {sender} "
                f"(reported by {echoer}): inconsistent broadcast",
                culprits=(culprit,),
            )


__all__ = ["DIGEST_SIZE", "broadcast_digest", "check_echoes", "echo_vector", "split_echo"]
