"""Threshold ECDSA end to end: keys, signing, single use, serialization, refresh, reshare."""

from __future__ import annotations

import hashlib
import random

import coincurve
import pytest
from eth_account import Account
from eth_keys import keys as eth_keys
from hypothesis import given, settings
from hypothesis import strategies as st

from cosigner import ecdsa
from cosigner.ecdsa import math
from cosigner.ecdsa.math import G, N
from cosigner.errors import CosignerError
from cosigner.protocol import LocalNetwork, Protocol, ProtocolCheckFailedError, run_local
from cosigner.protocol.errors import InvalidParametersError
from ecdsa_dealer import insecure_deal_triple_for_tests
from protocol_helpers import seeded_rng


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def eth_address(public_key: bytes) -> str:
    return eth_keys.PublicKey.from_compressed_bytes(public_key).to_checksum_address()


def assert_valid(sig: ecdsa.Signature, public_key: bytes, d: bytes) -> None:
    """The signature verifies as ordinary ECDSA, is low-s, and recovers the key and address."""
    assert 0 < sig.s <= N // 2
    der = coincurve.ecdsa.cdata_to_der(coincurve.ecdsa.deserialize_compact(sig.to_compact()))
    assert coincurve.PublicKey(public_key).verify(der, d, hasher=None)
    recovered = coincurve.PublicKey.from_signature_and_message(sig.to_bytes(), d, hasher=None)
    assert recovered.format() == public_key
    assert Account._recover_hash(d, vrs=(sig.v, sig.r, sig.s)) == eth_address(public_key)
    assert sig.verify(public_key, d)
    assert ecdsa.Signature.from_bytes(sig.to_bytes()) == sig
    assert len(sig.to_bytes()) == 65


def secret_of(shares: dict[int, ecdsa.KeyShare], subset: tuple[int, ...]) -> int:
    return sum(math.lagrange(subset, p) * shares[p].secret_share for p in subset) % N


# -- the two-party v1 scheme -----------------------------------------------------------


def test_two_party_v1_shares_and_signing() -> None:
    x_client, x_relayer = 0x1234 << 200, 0xBEEF << 190
    pair = ecdsa.two_party_v1_shares(x_client, x_relayer)
    assert set(pair) == {1, 2}
    assert math.lagrange((1, 2), 1) == 3 and math.lagrange((1, 2), 2) == N - 2
    public_key = G.base_mul(x_client + x_relayer).to_bytes()
    assert pair[1].public_key == pair[2].public_key == public_key
    assert pair[1].secret_share == x_client * pow(3, -1, N) % N
    assert pair[2].secret_share == x_relayer * pow(-2, -1, N) % N
    assert secret_of(pair, (1, 2)) == (x_client + x_relayer) % N
    for i in range(3):
        d = digest(f"two-party {i}")
        assert_valid(ecdsa.sign_local(pair, d, coordinator=2), public_key, d)


def test_two_party_v1_rejects_bad_secrets() -> None:
    with pytest.raises(InvalidParametersError):
        ecdsa.two_party_v1_shares(0, 5)
    with pytest.raises(InvalidParametersError):
        ecdsa.two_party_v1_shares(5, N - 5)


# -- DKG and signing ------------------------------------------------------------------


def test_dkg_2_of_3_signs_with_every_pair() -> None:
    shares = ecdsa.keygen_local([1, 2, 3], threshold=2)
    public_key = shares[1].public_key
    assert len(public_key) == 33
    assert {s.public_key for s in shares.values()} == {public_key}
    assert G.base_mul(secret_of(shares, (1, 3))) == G.decode_element(public_key)
    for pair in ((1, 2), (1, 3), (2, 3)):
        d = digest(f"2-of-3 {pair}")
        sig = ecdsa.sign_local({i: shares[i] for i in pair}, d, rerandomize=pair != (2, 3))
        assert_valid(sig, public_key, d)


def test_dkg_3_of_5() -> None:
    shares = ecdsa.keygen_local([0, 1, 2, 3, 4], threshold=3)
    public_key = shares[0].public_key
    d = digest("3-of-5")
    sig = ecdsa.sign_local({i: shares[i] for i in (0, 2, 4)}, d, coordinator=4)
    assert_valid(sig, public_key, d)
    with pytest.raises(InvalidParametersError):
        ecdsa.sign_local({i: shares[i] for i in (0, 2)}, d)


def test_keygen_parameters() -> None:
    with pytest.raises(InvalidParametersError):
        ecdsa.keygen_local([1, 2, 3], threshold=1)
    with pytest.raises(InvalidParametersError):
        ecdsa.keygen_local([1, 2, 3], threshold=4)
    with pytest.raises(InvalidParametersError):
        ecdsa.keygen_local([1, 1, 2], threshold=2)


def test_key_share_encoding() -> None:
    share = ecdsa.keygen_local([1, 2], threshold=2)[1]
    data = share.to_bytes()
    assert ecdsa.KeyShare.from_bytes(data) == share
    assert hex(share.secret_share)[2:12] not in repr(share)
    for bad in (data[:-1], data + b"\x00", b"XSE" + data[3:], data[:3] + b"\x09" + data[4:]):
        with pytest.raises(CosignerError):
            ecdsa.KeyShare.from_bytes(bad)


def test_signature_encoding() -> None:
    sig = ecdsa.Signature(5, 7, 1)
    assert ecdsa.Signature.from_bytes(sig.to_bytes()) == sig and sig.v == 28
    high = (5).to_bytes(32, "big") + (N - 7).to_bytes(32, "big") + b"\x01"
    for bad in (high, sig.to_bytes()[:-1], sig.to_bytes()[:-1] + b"\x04", bytes(65)):
        with pytest.raises(CosignerError):
            ecdsa.Signature.from_bytes(bad)


# -- presignatures and triples are single use and bound --------------------------------


@pytest.fixture(scope="module")
def key_2_of_3() -> dict[int, ecdsa.KeyShare]:
    return ecdsa.keygen_local([1, 2, 3], threshold=2, rng=seeded_rng("key 2-of-3"))


def dealt_presignatures(shares, ids):
    t0 = insecure_deal_triple_for_tests(ids, shares[ids[0]].threshold)
    t1 = insecure_deal_triple_for_tests(ids, shares[ids[0]].threshold)
    return ecdsa.presign_local({i: shares[i] for i in ids}, t0, t1)


def test_presignature_is_consumed_by_signing(key_2_of_3) -> None:
    pre = dealt_presignatures(key_2_of_3, (1, 2))
    d = digest("once")
    sig = ecdsa.sign_with_presignatures_local(pre, d)
    assert_valid(sig, key_2_of_3[1].public_key, d)
    assert pre[1].consumed and pre[2].consumed
    with pytest.raises(ecdsa.PresignatureConsumedError) as info:
        ecdsa.sign_with_presignatures_local(pre, digest("twice"))
    assert info.value.code == "presignature_consumed"
    # A copy made before use is a different object, but the one used stays used.
    copy = ecdsa.Presignature.from_bytes(pre[1].to_bytes())
    assert not copy.consumed and copy.presignature_id == pre[1].presignature_id


def test_presignature_bound_to_its_participants(key_2_of_3) -> None:
    pre = dealt_presignatures(key_2_of_3, (1, 2))
    with pytest.raises(ecdsa.PresignatureMismatchError) as info:
        ecdsa.Sign(
            session_id=b"s",
            presignature=pre[1],
            digest=digest("x"),
            coordinator=1,
            participants=(1, 3),
        )
    assert info.value.code == "presignature_mismatch"
    other_key = ecdsa.keygen_local([1, 2, 3], threshold=2)
    with pytest.raises(ecdsa.PresignatureMismatchError):
        ecdsa.Sign(
            session_id=b"s",
            presignature=pre[1],
            digest=digest("x"),
            coordinator=1,
            public_key=other_key[1].public_key,
        )
    assert not pre[1].consumed  # a refused use does not consume it


def test_triples_are_single_use(key_2_of_3) -> None:
    ids = (1, 2)
    t0 = insecure_deal_triple_for_tests(ids, 2)
    t1 = insecure_deal_triple_for_tests(ids, 2)
    t2 = insecure_deal_triple_for_tests(ids, 2)
    ecdsa.presign_local({i: key_2_of_3[i] for i in ids}, t0, t1)
    with pytest.raises(ecdsa.TripleConsumedError):
        ecdsa.presign_local({i: key_2_of_3[i] for i in ids}, t0, t2)
    assert not t2[1].consumed
    with pytest.raises(ecdsa.TripleMismatchError):
        ecdsa.presign_local({i: key_2_of_3[i] for i in ids}, t2, t2)


def test_triple_share_encoding() -> None:
    share = insecure_deal_triple_for_tests((1, 2), 2)[1]
    assert ecdsa.TripleShare.from_bytes(share.to_bytes()).to_bytes() == share.to_bytes()
    assert hex(share.a)[2:12] not in repr(share)


# -- generated triples ------------------------------------------------------------------


def test_generated_triples_are_beaver_triples() -> None:
    ids = (1, 2, 3)
    sid = b"triples" * 4
    sessions = {
        p: ecdsa.TripleGeneration(
            session_id=sid, me=p, participants=ids, threshold=2, count=3, rng=seeded_rng(f"t{p}")
        )
        for p in ids
    }
    net = LocalNetwork(sessions)
    triples = net.run()
    for k in range(3):
        for subset in ((1, 2), (2, 3)):
            a, b, c = (
                sum(math.lagrange(subset, p) * getattr(triples[p][k], name) for p in subset) % N
                for name in ("a", "b", "c")
            )
            assert a * b % N == c
            public = triples[1][k].triple
            assert (G.base_mul(a), G.base_mul(b), G.base_mul(c)) == (
                public.big_a,
                public.big_b,
                public.big_c,
            )
        assert len({triples[p][k].triple.triple_id for p in ids}) == 1
    # One base OT per pair for the whole batch: round-0 private messages are the
    # base OT's first message, one per pair, whatever the batch size.
    assert len({t.triple.triple_id for ts in triples.values() for t in ts}) == 3


def test_one_base_ot_per_pair_per_batch() -> None:
    from protocol_helpers import collect_messages

    for count in (1, 4):
        ids = (1, 2, 3)
        sessions = {
            p: ecdsa.TripleGeneration(
                session_id=b"b" * 32, me=p, participants=ids, threshold=2, count=count
            )
            for p in ids
        }
        _, log = collect_messages(sessions)
        base_ot = [m for m in log if m.round == 0 and m.recipient is not None]
        assert len(base_ot) == 3  # pairs (1,2), (1,3), (2,3)


def test_triples_with_other_threshold_are_refused(key_2_of_3) -> None:
    t3 = ecdsa.generate_triples_local((1, 2, 3), 3, 2)
    with pytest.raises(ecdsa.TripleMismatchError):
        ecdsa.presign_local(
            {i: key_2_of_3[i] for i in (1, 2, 3)},
            {p: t[0] for p, t in t3.items()},
            {p: t[1] for p, t in t3.items()},
        )


# -- serialization between every message ------------------------------------------------


def run_pipeline(*, serialize: bool, shuffle: random.Random | None):
    ids = (1, 2, 3)
    shares = ecdsa.keygen_local(ids, threshold=2, rng=seeded_rng("pipeline key"))
    triple_sessions = {
        p: ecdsa.TripleGeneration(
            session_id=b"T" * 32,
            me=p,
            participants=ids,
            threshold=2,
            count=2,
            rng=seeded_rng(f"T{p}"),
        )
        for p in ids
    }
    triples = run_local(triple_sessions, serialize=serialize, shuffle=shuffle)
    signers = (1, 3)
    presign_sessions = {
        p: ecdsa.Presign(
            session_id=b"P" * 32,
            key_share=shares[p],
            triple0=triples[p][0],
            triple1=triples[p][1],
            participants=signers,
            rng=seeded_rng(f"P{p}"),
        )
        for p in signers
    }
    presignatures = run_local(presign_sessions, serialize=serialize, shuffle=shuffle)
    d = digest("pipeline")
    sign_sessions = {
        p: ecdsa.Sign(
            session_id=b"S" * 32,
            presignature=presignatures[p],
            digest=d,
            coordinator=3,
            entropy=b"e" * 32,
            rng=seeded_rng(f"S{p}"),
        )
        for p in signers
    }
    sig = run_local(sign_sessions, serialize=serialize, shuffle=shuffle)[3]
    assert_valid(sig, shares[1].public_key, d)
    return (
        {p: [t.to_bytes() for t in ts] for p, ts in triples.items()},
        {p: pre.to_bytes() for p, pre in presignatures.items()},
        sig.to_bytes(),
    )


def test_serialized_between_every_message_gives_identical_results() -> None:
    plain = run_pipeline(serialize=False, shuffle=None)
    restored = run_pipeline(serialize=True, shuffle=random.Random(11))
    assert plain == restored


def test_state_of_every_round_restores() -> None:
    ids = (1, 2)
    sessions = {
        p: ecdsa.TripleGeneration(session_id=b"R" * 32, me=p, participants=ids, threshold=2)
        for p in ids
    }
    net = LocalNetwork(sessions, serialize=True)
    net.run()
    for s in net.sessions.values():
        assert Protocol.from_bytes(s.to_bytes()).to_bytes() == s.to_bytes()


# -- refresh and reshare -----------------------------------------------------------------


def test_refresh_keeps_the_key_and_old_shares_stop_working() -> None:
    old = ecdsa.keygen_local([1, 2, 3], threshold=2)
    new = ecdsa.refresh_local(old)
    public_key = old[1].public_key
    assert {s.public_key for s in new.values()} == {public_key}
    assert all(new[p].secret_share != old[p].secret_share for p in new)
    assert secret_of(new, (2, 3)) == secret_of(old, (1, 2))
    d = digest("after refresh")
    assert_valid(ecdsa.sign_local({1: new[1], 3: new[3]}, d), public_key, d)
    with pytest.raises(ProtocolCheckFailedError):
        ecdsa.sign_local({1: old[1], 3: new[3]}, d)


def test_reshare_to_new_participants_and_threshold() -> None:
    old = ecdsa.keygen_local([1, 2, 3], threshold=2)
    public_key = old[1].public_key
    # 1 leaves, 4 and 5 join, the threshold becomes 3; 2 and 3 carry the key over.
    new = ecdsa.reshare_local({2: old[2], 3: old[3]}, [2, 3, 4, 5], threshold=3)
    assert set(new) == {2, 3, 4, 5}
    assert all(s.public_key == public_key and s.threshold == 3 for s in new.values())
    assert secret_of(new, (3, 4, 5)) == secret_of(old, (1, 3))
    d = digest("after reshare")
    assert_valid(ecdsa.sign_local({p: new[p] for p in (2, 4, 5)}, d), public_key, d)
    # Old and new shares do not mix.
    with pytest.raises(CosignerError):
        ecdsa.sign_local({1: old[1], 2: new[2], 4: new[4]}, d)
    # Not enough old participants to carry the key over.
    with pytest.raises(InvalidParametersError):
        ecdsa.reshare_local({2: old[2]}, [2, 4, 5], threshold=2)


# -- property tests of the value decoders ------------------------------------------------

_SAMPLES = {
    "key share": ecdsa.KeyShare.from_bytes,
    "triple share": ecdsa.TripleShare.from_bytes,
    "presignature": ecdsa.Presignature.from_bytes,
    "signature": ecdsa.Signature.from_bytes,
}


def _sample_encodings() -> dict[str, bytes]:
    key = ecdsa.two_party_v1_shares(11, 22)
    t0 = insecure_deal_triple_for_tests((1, 2), 2)
    t1 = insecure_deal_triple_for_tests((1, 2), 2)
    pre = ecdsa.presign_local(key, t0, t1)
    return {
        "key share": key[1].to_bytes(),
        "triple share": insecure_deal_triple_for_tests((1, 2), 2)[2].to_bytes(),
        "presignature": pre[2].to_bytes(),
        "signature": ecdsa.Signature(1, 2, 3).to_bytes(),
    }


ENCODINGS = _sample_encodings()


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(sorted(_SAMPLES)),
    edits=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 255)), max_size=3),
    cut=st.none() | st.integers(0, 400),
    extra=st.binary(max_size=2),
)
def test_value_decoders_property(kind, edits, cut, extra) -> None:
    data = bytearray(ENCODINGS[kind])
    for position, value in edits:
        data[position % len(data)] = value
    if cut is not None:
        data = data[: cut % (len(data) + 1)]
    data += extra
    try:
        value = _SAMPLES[kind](bytes(data))
    except CosignerError as exc:
        assert exc.code in ("malformed_key_share", "malformed_signature")
        return
    assert value.to_bytes() == bytes(data)


def test_state_continues_in_another_process() -> None:
    """Serialize mid-run, continue in a fresh interpreter: same messages, same state."""
    import subprocess
    import sys

    ids = (1, 2)
    sessions = {
        p: ecdsa.TripleGeneration(
            session_id=b"X" * 32, me=p, participants=ids, threshold=2, rng=seeded_rng(f"X{p}")
        )
        for p in ids
    }
    pending = [m for p in ids for m in sessions[p].start()]
    # Deliver until participant 2 is about to take the round-2 messages (U and C_i).
    while True:
        message = pending.pop(0)
        recipient = 2 if message.sender == 1 else 1
        if recipient == 2 and message.round == 2:
            break
        pending.extend(sessions[recipient].receive(message))
    state = sessions[2].to_bytes()
    here = Protocol.from_bytes(state)
    expected = [m.to_bytes() for m in here.receive(message)]
    script = (
        "import sys\n"
        "from cosigner.protocol import Message, Protocol\n"
        "state, message = (bytes.fromhex(x) for x in sys.stdin.read().split())\n"
        "session = Protocol.from_bytes(state)\n"
        "out = session.receive(Message.from_bytes(message))\n"
        "print(' '.join(m.to_bytes().hex() for m in out))\n"
        "print(session.to_bytes().hex())\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script],
        input=f"{state.hex()} {message.to_bytes().hex()}",
        capture_output=True,
        text=True,
        check=True,
    )
    messages_line, state_line = done.stdout.split("\n")[:2]
    assert [bytes.fromhex(x) for x in messages_line.split()] == expected
    assert bytes.fromhex(state_line) == here.to_bytes()
