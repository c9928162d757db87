"""The client's side (participant 1) of two-party threshold ECDSA, without I/O.

The relayer's routes (:mod:`cosigner.server.routes.ecdsa`) run the other side.
A presign session generates two triples (one batch) and then presigns with
them; :class:`ClientPresign` follows it from the messages the server returns
and the stage it reports, and ends with the client's half of the
presignature, pooled on both sides under the same id. :func:`signature_share`
turns that half, the digest and both halves of the rerandomization entropy
into the client's signature share; the relayer combines.

Protocol session ids come from :func:`cosigner.ecdsa.two_party.flow_session_id`,
so both sides derive them from the ids the server issued.
"""

from __future__ import annotations

from collections.abc import Iterable

from cosigner.client.errors import ClientError
from cosigner.ecdsa import Presign, Presignature, Sign, TripleGeneration
from cosigner.ecdsa.two_party import (
    CLIENT_ID,
    PARTICIPANTS,
    RELAYER_ID,
    TRIPLES_PER_PRESIGNATURE,
    flow_session_id,
    sign_entropy,
)
from cosigner.ecdsa.types import KeyShare
from cosigner.protocol import Message

STAGE_TRIPLES = "triples"
STAGE_TRIPLES_DONE = "triples_done"
STAGE_PRESIGN = "presign"
STAGE_DONE = "done"


class ClientPresign:
    """One presign session from the client's side: triples, then presign, then done."""

    def __init__(self, key_share: KeyShare, key_id: str, presign_session_id: str) -> None:
        if key_share.participant_id != CLIENT_ID:
            raise ClientError("the client presigns with participant 1's key share")
        self._key_share = key_share
        self._key_id = key_id
        self._session_id = presign_session_id
        self._generation = TripleGeneration(
            session_id=flow_session_id("triples", key_id, presign_session_id),
            me=CLIENT_ID,
            participants=PARTICIPANTS,
            threshold=2,
            count=TRIPLES_PER_PRESIGNATURE,
        )
        self._presign: Presign | None = None
        self._outgoing: list[Message] = self._generation.start()
        self.stage = STAGE_TRIPLES

    def receive(self, server_stage: str, messages: Iterable[Message]) -> None:
        """Feed the relayer's messages of one answer and the stage the server reached."""
        if self.stage == STAGE_DONE:
            raise ClientError("this presign session is finished")
        if self._presign is None:
            for message in messages:
                self._outgoing += self._generation.receive(message)
            if server_stage == STAGE_TRIPLES_DONE:
                if not self._generation.done:
                    raise ClientError("the relayer finished the triples but this client did not")
                triple0, triple1 = self._generation.result
                self._presign = Presign(
                    session_id=flow_session_id("presign", self._key_id, self._session_id),
                    key_share=self._key_share,
                    triple0=triple0,
                    triple1=triple1,
                    participants=PARTICIPANTS,
                )
                # The relayer had every message it needed: what is left was not for it.
                self._outgoing = self._presign.start()
                self.stage = STAGE_PRESIGN
            elif server_stage != STAGE_TRIPLES:
                raise ClientError(f"unexpected stage {server_stage!r} while generating triples")
            return
        for message in messages:
            self._outgoing += self._presign.receive(message)
        if server_stage == STAGE_DONE:
            if not self._presign.done:
                raise ClientError("the relayer finished presigning but this client did not")
            self.stage = STAGE_DONE
        elif server_stage != STAGE_PRESIGN:
            raise ClientError(f"unexpected stage {server_stage!r} while presigning")

    def outgoing(self) -> list[Message]:
        """The messages to send with the next step (and forget)."""
        out, self._outgoing = self._outgoing, []
        return out

    @property
    def presignature(self) -> Presignature:
        if self._presign is None or not self._presign.done:
            raise ClientError("the presign session has not finished")
        result = self._presign.result
        assert isinstance(result, Presignature)
        return result


def signature_share(
    presignature: Presignature,
    *,
    key_id: str,
    signing_session_id: str,
    digest: bytes,
    client_entropy: bytes,
    relayer_entropy: bytes,
) -> bytes:
    """The client's 32-byte signature share for the relayer (the coordinator).

    Uses ``presignature`` up (it is single-use): never call this twice with one.
    """
    session_id = flow_session_id("sign", key_id, signing_session_id)
    signing = Sign(
        session_id=session_id,
        presignature=presignature,
        digest=digest,
        coordinator=RELAYER_ID,
        participants=PARTICIPANTS,
        entropy=sign_entropy(client_entropy, relayer_entropy),
    )
    (message,) = signing.start()
    return message.payload


__all__ = [
    "STAGE_DONE",
    "STAGE_PRESIGN",
    "STAGE_TRIPLES",
    "STAGE_TRIPLES_DONE",
    "ClientPresign",
    "signature_share",
]
