"""The coordinator never holds a secret share: scan everything it stored and said.

A 2-of-3 group runs its DKG, a refresh and a signing on a SQLite store.
Then the database file (and any journal beside it) and every published
event are scanned for each secret in every encoding a bug could leave it in
(raw bytes little- and big-endian, hex, base64, base64url): every owner's
signing share of both epochs, every part-two share (decrypted here with the
recipients' keys, which the coordinator does not have), the group secret,
and the owners' identity seeds and their X25519 forms.
"""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

from cosigner import frost
from cosigner.multisig import SQLiteMultisigStore
from cosigner.multisig.e2e import Envelope, open_envelope

from .helpers import Harness, make_harness

SUITE = frost.ciphersuite("ed25519")


def _encodings(secret: bytes) -> list[bytes]:
    forms = [secret, secret[::-1], secret.hex().encode(), secret.hex().upper().encode()]
    for raw in (secret, secret[::-1]):
        forms.append(base64.b64encode(raw).rstrip(b"="))
        forms.append(base64.urlsafe_b64encode(raw).rstrip(b"="))
    return forms


def _part_two_shares(h: Harness, group_id: str, session: str) -> list[bytes]:
    shares = []
    for message in h.store.keygen_messages(group_id, session, "round2"):
        envelope = Envelope.from_bytes(message.body)
        recipient = next(k for k in h.identities if k.public_key == envelope.recipient)
        package = frost.Round2Package.from_bytes(open_envelope(recipient, envelope))
        shares.append(SUITE.encode_scalar(package.signing_share))
    return shares


def _signing_shares(h: Harness, group_id: str) -> list[bytes]:
    packages = [o._group_keys(group_id).key_package for o in h.owners]  # type: ignore[attr-defined]
    secret = frost.reconstruct(SUITE, packages)
    return [SUITE.encode_scalar(p.signing_share) for p in packages] + [SUITE.encode_scalar(secret)]


def test_store_and_events_hold_no_secret(tmp_path: Path) -> None:
    path = tmp_path / "coordinator.sqlite"
    h = make_harness(3, SQLiteMultisigStore(path))
    gid = h.dkg(2).group_id
    secrets = _signing_shares(h, gid) + _part_two_shares(h, gid, "dkg-1")
    h.coordinator.start_refresh(gid, h.keys[1])
    refresh_session = h.group(gid).session
    assert refresh_session is not None
    h.run_keygen(gid)
    secrets += _signing_shares(h, gid) + _part_two_shares(h, gid, refresh_session.name)
    proposal = h.coordinator.propose_transfer(gid, h.keys[0], "alice", 1)
    assert h.approve(proposal.proposal_id, h.owners[:2]).status == "ready"
    for i, identity in enumerate(h.identities):
        seed = hashlib.sha256(f"owner-{i}".encode()).digest()
        assert identity.public_key == h.keys[i]
        secrets += [seed, bytes(identity._signing_key.to_curve25519_private_key())]  # type: ignore[attr-defined]
    # 6 signing shares, 12 part-two shares, the group secret (kept by the refresh), 6 keys.
    assert len(set(secrets)) == 6 + 12 + 1 + 6
    h.store.close()

    stored = b"".join(p.read_bytes() for p in tmp_path.iterdir())
    published = json.dumps([e.to_dict() for e in h.events]).encode()
    assert len(stored) > 10_000 and b"multisig_groups" in stored  # the scan sees real data
    for secret in secrets:
        for form in _encodings(secret):
            assert form not in stored, "a secret is in the coordinator's database"
            assert form not in published, "a secret is in a published event"
