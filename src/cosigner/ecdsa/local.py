"""Every ECDSA protocol run to completion in one process.

These helpers build one session per participant and deliver their messages
with :class:`~cosigner.protocol.LocalNetwork`. They are for tests, tools,
benchmarks and single-machine setups; real deployments run one session per
machine and move the messages themselves.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cosigner.ecdsa.errors import KeyShareMismatchError
from cosigner.ecdsa.keygen import Keygen, Refresh, Reshare
from cosigner.ecdsa.presign import Presign
from cosigner.ecdsa.sign import Sign, check_digest
from cosigner.ecdsa.triples import TripleGeneration
from cosigner.ecdsa.types import KeyShare, Presignature, Signature, TripleShare
from cosigner.groups import RandomBytes, system_random
from cosigner.protocol.base import normalize_participants
from cosigner.protocol.errors import InvalidParametersError
from cosigner.protocol.runner import LocalNetwork


def _check_shares(shares: Mapping[int, KeyShare]) -> KeyShare:
    if not shares:
        raise InvalidParametersError("no key shares given")
    first = next(iter(shares.values()))
    for pid, share in shares.items():
        if not isinstance(share, KeyShare):
            raise InvalidParametersError(f"shares[{pid}] is not a KeyShare")
        if share.participant_id != pid:
            raise KeyShareMismatchError(
                f"shares[{pid}] belongs to participant {share.participant_id}"
            )
        if (share.public_key, share.threshold, share.participants) != (
            first.public_key,
            first.threshold,
            first.participants,
        ):
            raise KeyShareMismatchError("the key shares are not shares of the same key")
    return first


def keygen_local(
    participants: Iterable[int], threshold: int, *, rng: RandomBytes = system_random
) -> dict[int, KeyShare]:
    """Run the DKG among ``participants``: ``{participant_id: KeyShare}``."""
    ids = normalize_participants(participants)
    session_id = rng(32)
    sessions = {
        p: Keygen(session_id=session_id, me=p, participants=ids, threshold=threshold, rng=rng)
        for p in ids
    }
    return LocalNetwork(sessions).run()


def refresh_local(
    shares: Mapping[int, KeyShare], *, rng: RandomBytes = system_random
) -> dict[int, KeyShare]:
    """New shares of the same key for the same participants (all must take part)."""
    first = _check_shares(shares)
    if tuple(sorted(shares)) != first.participants:
        raise InvalidParametersError("a refresh needs every participant's share")
    session_id = rng(32)
    sessions = {p: Refresh(session_id=session_id, share=s, rng=rng) for p, s in shares.items()}
    return LocalNetwork(sessions).run()


def reshare_local(
    shares: Mapping[int, KeyShare],
    participants: Iterable[int],
    threshold: int,
    *,
    rng: RandomBytes = system_random,
) -> dict[int, KeyShare]:
    """Move the key to ``participants`` with ``threshold``; ``shares`` are the old ones.

    Every old participant that is also a new one must be in ``shares``.
    """
    first = _check_shares(shares)
    new = normalize_participants(participants)
    missing = [p for p in new if p in first.participants and p not in shares]
    if missing:
        raise InvalidParametersError(f"old participants {missing} stay but gave no share")
    session_id = rng(32)
    sessions = {
        p: Reshare(
            session_id=session_id,
            me=p,
            participants=new,
            threshold=threshold,
            old_share=shares.get(p),
            old_participants=first.participants,
            old_threshold=first.threshold,
            public_key=first.public_key,
            rng=rng,
        )
        for p in new
    }
    return LocalNetwork(sessions).run()


def generate_triples_local(
    participants: Iterable[int], threshold: int, count: int, *, rng: RandomBytes = system_random
) -> dict[int, list[TripleShare]]:
    """``count`` triples among ``participants``: ``{participant_id: [TripleShare, ...]}``."""
    ids = normalize_participants(participants)
    session_id = rng(32)
    sessions = {
        p: TripleGeneration(
            session_id=session_id,
            me=p,
            participants=ids,
            threshold=threshold,
            count=count,
            rng=rng,
        )
        for p in ids
    }
    return LocalNetwork(sessions).run()


def presign_local(
    shares: Mapping[int, KeyShare],
    triple0: Mapping[int, TripleShare],
    triple1: Mapping[int, TripleShare],
    *,
    rng: RandomBytes = system_random,
) -> dict[int, Presignature]:
    """Presign among the holders of ``shares``, consuming the two triples."""
    _check_shares(shares)
    ids = tuple(sorted(shares))
    session_id = rng(32)
    sessions = {
        p: Presign(
            session_id=session_id,
            key_share=shares[p],
            triple0=triple0[p],
            triple1=triple1[p],
            participants=ids,
            rng=rng,
        )
        for p in ids
    }
    return LocalNetwork(sessions).run()


def sign_with_presignatures_local(
    presignatures: Mapping[int, Presignature],
    digest: bytes,
    *,
    coordinator: int | None = None,
    rerandomize: bool = True,
    rng: RandomBytes = system_random,
) -> Signature:
    """Sign ``digest`` with presignatures (consumed), the coordinator combining."""
    check_digest(digest)
    ids = tuple(sorted(presignatures))
    coordinator = ids[0] if coordinator is None else coordinator
    session_id = rng(32)
    entropy = rng(32) if rerandomize else None
    sessions = {
        p: Sign(
            session_id=session_id,
            presignature=presignatures[p],
            digest=digest,
            coordinator=coordinator,
            participants=ids,
            entropy=entropy,
            rng=rng,
        )
        for p in ids
    }
    signature = LocalNetwork(sessions).run()[coordinator]
    assert isinstance(signature, Signature)
    return signature


def sign_local(
    shares: Mapping[int, KeyShare],
    digest: bytes,
    *,
    coordinator: int | None = None,
    rerandomize: bool = True,
    rng: RandomBytes = system_random,
) -> Signature:
    """Sign a 32-byte digest with the given shares: two triples, presign, sign.

    The holders of ``shares`` (at least the threshold of them) generate the
    triples, presign and sign; ``coordinator`` (default: the lowest id)
    combines the signature shares.
    """
    check_digest(digest)
    first = _check_shares(shares)
    if len(shares) < first.threshold:
        raise InvalidParametersError(
            f"{len(shares)} shares given; signing needs at least {first.threshold}"
        )
    ids = tuple(sorted(shares))
    triples = generate_triples_local(ids, first.threshold, 2, rng=rng)
    presignatures = presign_local(
        shares,
        {p: t[0] for p, t in triples.items()},
        {p: t[1] for p, t in triples.items()},
        rng=rng,
    )
    return sign_with_presignatures_local(
        presignatures, digest, coordinator=coordinator, rerandomize=rerandomize, rng=rng
    )


__all__ = [
    "generate_triples_local",
    "keygen_local",
    "presign_local",
    "refresh_local",
    "reshare_local",
    "sign_local",
    "sign_with_presignatures_local",
]
