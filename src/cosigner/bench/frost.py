"""``cosigner bench frost``: FROST key generation and signing, side by side with frost_rs.

For each ciphersuite and t-of-n group this times, with ``time.perf_counter_ns``
after one unrecorded warm-up run, and reports the median in milliseconds:

* dealer keygen - every participant's key package and the public key package;
* DKG - one whole Pedersen DKG run in this process: part1, part2 and part3 of
  :mod:`cosigner.frost.dkg` for every one of the n participants;
* round one and round two, per signer - round two on the signer's own freshly
  built :class:`~cosigner.frost.SigningPackage`, so nothing is cached for it;
* aggregate - on the coordinator's own fresh package, including the check of
  the aggregate signature;
* verify - the signature against the serialized group key;
* full signing - t x round one, the signing package, t x round two,
  aggregate and verify. Every signing builds a fresh package; in one process
  the signers and the coordinator share it, and with it the binding factors
  and group commitment it caches (DESIGN.md principle 7);
* full signing, one package per party - the same, but every signer and the
  coordinator build their own package, as they do on separate machines, so
  each of them computes the binding factors and group commitment.

The peer is ``frost_rs`` (PyPI ``frost-rs``, the ``bench`` extra): pyo3
bindings to a modified copy of the Zcash Foundation's frost-core 1.0, with
ed25519 and secp256k1 measured here. Its API is stateless and takes strings:
every value crosses the boundary as base64url of frost-core's serialization,
so each call decodes and validates its inputs again. That is what using it
from Python costs, and it is measured as such. Three adjustments keep the
work the same on both sides:

* frost_rs's dealer (``get_key``) returns secret shares only; its timing
  includes ``gen_key_package`` for every participant and assembling the public
  key package (byte splicing, no arithmetic), which cosigner's
  ``keygen_with_dealer`` returns;
* frost_rs's ``verify`` takes a whole public key package and decodes every
  verifying share in it; it is given a package holding only the group key;
* messages are 32 bytes, because frost_rs copies a message byte by byte.

frost_rs's DKG also encrypts every round-two share (AES-GCM under an ECDH key),
which cosigner leaves to the transport, so its DKG timings include that work.
"""

from __future__ import annotations

import base64
import hashlib
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any, Literal, TextIO

from cosigner import __version__, frost
from cosigner.bench import (
    PeerRatio,
    Samples,
    import_peer,
    is_peer_failure,
    machine_description,
    parse_sizes,
    size_label,
)
from cosigner.frost import dkg
from cosigner.frost.ciphersuite import Ciphersuite

DEALER = "dealer keygen"
DKG = "DKG, all n participants"
ROUND_ONE = "round one, per signer"
ROUND_TWO = "round two, per signer"
AGGREGATE = "aggregate"
VERIFY = "verify"
FULL_SIGNING = "full signing"
FULL_SIGNING_PER_PARTY = "full signing, per party"
OPERATIONS = (
    DEALER,
    DKG,
    ROUND_ONE,
    ROUND_TWO,
    AGGREGATE,
    VERIFY,
    FULL_SIGNING,
    FULL_SIGNING_PER_PARTY,
)

DEFAULT_REPEAT = 25
DEFAULT_SUITES = ("ed25519", "secp256k1")
DEFAULT_SIZES = ((2, 3), (7, 10))
WARMUP_RUNS = 1

MESSAGE = hashlib.sha256(b"cosigner bench frost").digest()

TARGETS: tuple[tuple[str, int, int, float], ...] = (
    ("ed25519", 2, 3, 0.5),
    ("ed25519", 7, 10, 0.7),
    ("secp256k1", 2, 3, 0.5),
    ("secp256k1", 7, 10, 0.5),
)
"""Full-signing ratios cosigner/frost_rs the project aims at: (suite, t, n, at most)."""

_clock = time.perf_counter_ns


class BenchError(Exception):
    """A benchmark run that produced a wrong result (a signature that does not verify)."""


def parse_suites(text: str) -> list[str]:
    """``"ed25519,secp256k1"`` to a list of known ciphersuite names; raises ValueError."""
    known = [s.name for s in frost.all_ciphersuites()]
    names: list[str] = []
    for item in text.split(","):
        name = item.strip()
        if name not in known:
            raise ValueError(f"unknown ciphersuite {name!r}; choose from {', '.join(known)}")
        if name not in names:
            names.append(name)
    return names


def _signer_set(identifiers: Sequence[Any], t: int, run: int) -> list[Any]:
    """A different t-subset on successive runs, so no one signer set is favoured."""
    start = run % (len(identifiers) - t + 1)
    return list(identifiers[start : start + t])


# -- cosigner -------------------------------------------------------------------------


def _cosigner_dkg(
    suite: Ciphersuite, t: int, n: int
) -> tuple[dict[frost.Identifier, frost.KeyPackage], list[frost.PublicKeyPackage]]:
    """All three parts of the DKG for every participant, in turn, in this process."""
    ids = [frost.Identifier(i) for i in range(1, n + 1)]
    round1_secret = {}
    round1_packages = {}
    for i in ids:
        round1_secret[i], round1_packages[i] = dkg.part1(suite, i, n, t)
    round2_secret = {}
    round2_out = {}
    for i in ids:
        others = {j: p for j, p in round1_packages.items() if j != i}
        round2_secret[i], round2_out[i] = dkg.part2(round1_secret[i], others)
    key_packages = {}
    public_key_packages = []
    for i in ids:
        others = {j: p for j, p in round1_packages.items() if j != i}
        received = {j: out[i] for j, out in round2_out.items() if j != i}
        key_packages[i], public = dkg.part3(round2_secret[i], others, received)
        public_key_packages.append(public)
    return key_packages, public_key_packages


def _cosigner_run(suite: Ciphersuite, t: int, n: int, run: int, samples: Samples) -> None:
    start = _clock()
    key_packages, public = frost.keygen_with_dealer(suite, t, n)
    samples.add(DEALER, _clock() - start)

    start = _clock()
    _, dkg_publics = _cosigner_dkg(suite, t, n)
    samples.add(DKG, _clock() - start)
    if any(p != dkg_publics[0] for p in dkg_publics):
        raise BenchError(f"cosigner {suite.name} DKG: participants disagree on the group key")

    signers = _signer_set(list(key_packages), t, run)
    round_one = {}
    for i in signers:
        start = _clock()
        round_one[i] = frost.commit(key_packages[i])
        samples.add(ROUND_ONE, _clock() - start)
    commitments = {i: c for i, (_, c) in round_one.items()}
    shares = {}
    for i in signers:
        own_package = frost.SigningPackage(suite, commitments, MESSAGE)
        start = _clock()
        shares[i] = frost.sign(own_package, round_one[i][0], key_packages[i])
        samples.add(ROUND_TWO, _clock() - start)
    coordinator_package = frost.SigningPackage(suite, commitments, MESSAGE)
    start = _clock()
    signature = frost.aggregate(coordinator_package, shares, public)
    samples.add(AGGREGATE, _clock() - start)
    group_key = public.verifying_key.to_bytes()
    start = _clock()
    frost.verify(suite, group_key, MESSAGE, signature)
    samples.add(VERIFY, _clock() - start)

    start = _clock()
    _cosigner_full_signing(suite, key_packages, public, signers, shared_package=True)
    samples.add(FULL_SIGNING, _clock() - start)
    start = _clock()
    _cosigner_full_signing(suite, key_packages, public, signers, shared_package=False)
    samples.add(FULL_SIGNING_PER_PARTY, _clock() - start)


def _cosigner_full_signing(
    suite: Ciphersuite,
    key_packages: Mapping[frost.Identifier, frost.KeyPackage],
    public: frost.PublicKeyPackage,
    signers: Sequence[frost.Identifier],
    shared_package: bool,
) -> None:
    round_one = [frost.commit(key_packages[i]) for i in signers]
    commitments = {i: c for i, (_, c) in zip(signers, round_one, strict=True)}
    package = frost.SigningPackage(suite, commitments, MESSAGE)
    shares = {}
    for i, (nonces, _) in zip(signers, round_one, strict=True):
        own = package if shared_package else frost.SigningPackage(suite, commitments, MESSAGE)
        shares[i] = frost.sign(own, nonces, key_packages[i])
    signature = frost.aggregate(package, shares, public)
    frost.verify(suite, public.verifying_key.to_bytes(), MESSAGE, signature)


def measure_cosigner(suite_name: str, t: int, n: int, repeat: int) -> Samples:
    suite = frost.ciphersuite(suite_name)
    samples = Samples()
    for run in range(WARMUP_RUNS + repeat):
        _cosigner_run(suite, t, n, run, samples if run >= WARMUP_RUNS else Samples())
    return samples


# -- frost_rs ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _PeerSuite:
    """How frost_rs encodes one ciphersuite's values (frost-core 1.0 serialization)."""

    module: str
    scalar_size: int
    element_size: int
    byteorder: Literal["little", "big"]


_PEER_SUITES = {
    "ed25519": _PeerSuite("utility_ed25519", 32, 32, "little"),
    "secp256k1": _PeerSuite("utility_secp256k1", 32, 33, "big"),
}
_HEADER_SIZE = 5  # version byte and 4-byte ciphersuite tag


def _b64e(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode()


def _b64d(text: str) -> bytes:
    return base64.urlsafe_b64decode(text)


def _varint(n: int) -> bytes:
    """postcard's unsigned LEB128."""
    out = bytearray()
    while True:
        low, n = n & 0x7F, n >> 7
        out.append(low | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _peer_public_key_package(
    layout: _PeerSuite, key_packages: Mapping[str, str], with_shares: bool = True
) -> str:
    """The public key package frost_rs's dealer does not return, spliced from key packages.

    KeyPackage = header | id | signing share | verifying share | group key | min signers;
    PublicKeyPackage = header | varint(n) | n x (id | verifying share) | group key.
    """
    s, e, h = layout.scalar_size, layout.element_size, _HEADER_SIZE
    header = b""
    group_key = b""
    entries = []
    for encoded in key_packages.values():
        raw = _b64d(encoded)
        header = raw[:h]
        entries.append(raw[h : h + s] + raw[h + 2 * s : h + 2 * s + e])
        group_key = raw[h + 2 * s + e : h + 2 * s + 2 * e]
    if not with_shares:
        entries = []
    return _b64e(header + _varint(len(entries)) + b"".join(entries) + group_key)


def _peer_dkg(f: Any, layout: _PeerSuite, t: int, n: int) -> list[str]:
    """frost_rs's round1, round2 and round3 for every participant, in turn."""
    ids = [_b64e(i.to_bytes(layout.scalar_size, layout.byteorder)) for i in range(1, n + 1)]
    round1_secret = {}
    round1_packages = {}
    for i in ids:
        round1_secret[i], round1_packages[i] = f.round1(i, t, n)
    round2_secret = {}
    round2_out = {}
    for i in ids:
        others = {j: p for j, p in round1_packages.items() if j != i}
        round2_secret[i], round2_out[i] = f.round2(round1_secret[i], others)
    public_key_packages = []
    for i in ids:
        others = {j: p for j, p in round1_packages.items() if j != i}
        received = {j: out[i] for j, out in round2_out.items() if j != i}
        _, public = f.round3(round2_secret[i], others, received)
        public_key_packages.append(public)
    return public_key_packages


def _peer_run(
    f: Any, suite_name: str, layout: _PeerSuite, t: int, n: int, run: int, samples: Samples
) -> None:
    start = _clock()
    secret_shares = f.get_key(t, n)
    key_packages = {i: f.gen_key_package(s) for i, s in secret_shares.items()}
    public = _peer_public_key_package(layout, key_packages)
    samples.add(DEALER, _clock() - start)

    start = _clock()
    dkg_publics = _peer_dkg(f, layout, t, n)
    samples.add(DKG, _clock() - start)
    if len(set(dkg_publics)) != 1:
        raise BenchError(f"frost_rs {suite_name} DKG: participants disagree on the group key")

    key_only = _peer_public_key_package(layout, key_packages, with_shares=False)
    signers = _signer_set(list(key_packages), t, run)
    round_one = {}
    for i in signers:
        start = _clock()
        round_one[i] = f.preprocess(key_packages[i])
        samples.add(ROUND_ONE, _clock() - start)
    commitments = {i: c for i, (_, c) in round_one.items()}
    shares = {}
    for i in signers:
        start = _clock()
        shares[i] = f.sign(MESSAGE, commitments, round_one[i][0], key_packages[i])
        samples.add(ROUND_TWO, _clock() - start)
    start = _clock()
    signature = f.aggregate(MESSAGE, commitments, shares, public)
    samples.add(AGGREGATE, _clock() - start)
    start = _clock()
    ok = f.verify(MESSAGE, key_only, signature)
    samples.add(VERIFY, _clock() - start)
    if ok is not True:
        raise BenchError(f"frost_rs {suite_name}: its own signature does not verify")
    if run == 0:
        # Both sides must implement the same scheme for the comparison to mean anything.
        group_key = _b64d(public)[-layout.element_size :]
        try:
            frost.verify(suite_name, group_key, MESSAGE, _b64d(signature))
        except frost.InvalidSignature:
            raise BenchError(
                f"frost_rs {suite_name} signature does not verify under cosigner.frost.verify"
            ) from None

    # frost_rs's calls share nothing, so both full-signing lines time the same calls.
    for operation in (FULL_SIGNING, FULL_SIGNING_PER_PARTY):
        start = _clock()
        ok = _peer_full_signing(f, key_packages, public, key_only, signers)
        samples.add(operation, _clock() - start)
        if ok is not True:
            raise BenchError(f"frost_rs {suite_name}: its own signature does not verify")


def _peer_full_signing(
    f: Any, key_packages: Mapping[str, str], public: str, key_only: str, signers: Sequence[str]
) -> object:
    round_one = {i: f.preprocess(key_packages[i]) for i in signers}
    commitments = {i: c for i, (_, c) in round_one.items()}
    shares = {i: f.sign(MESSAGE, commitments, round_one[i][0], key_packages[i]) for i in signers}
    signature = f.aggregate(MESSAGE, commitments, shares, public)
    return f.verify(MESSAGE, key_only, signature)


@dataclass(frozen=True)
class Peer:
    """The installed frost_rs package."""

    package: ModuleType
    version: str

    def supports(self, suite_name: str) -> bool:
        return suite_name in _PEER_SUITES

    def measure(self, suite_name: str, t: int, n: int, repeat: int) -> Samples:
        layout = _PEER_SUITES[suite_name]
        f = getattr(self.package, layout.module)
        samples = Samples()
        for run in range(WARMUP_RUNS + repeat):
            target = samples if run >= WARMUP_RUNS else Samples()
            _peer_run(f, suite_name, layout, t, n, run, target)
        return samples


def load_peer() -> Peer | None:
    """frost_rs when it is installed (``pip install 'cosigner[bench]'``), else None."""
    found = import_peer("frost_rs", "frost-rs")
    return None if found is None else Peer(*found)


# -- report ---------------------------------------------------------------------------


@dataclass
class Line(PeerRatio):
    suite: str
    size: tuple[int, int]
    operation: str
    cosigner_ms: float
    peer_ms: float | None


def _format_line(line: Line) -> str:
    peer, ratio = line.peer_and_ratio_text()
    return (
        f"{line.suite:<10} {size_label(*line.size):<8} {line.operation:<24} "
        f"{line.cosigner_ms:>10.3f} {peer:>10} {ratio:>7}"
    )


def _header(
    repeat: int, peer: Peer | None, suites: Sequence[str], sizes: Sequence[tuple[int, int]]
) -> list[str]:
    peer_text = (
        f"against frost_rs {peer.version} (the Zcash Foundation's frost-core 1.0 through pyo3)"
        if peer is not None
        else "alone: frost_rs is not installed (pip install 'cosigner[bench]', or make bench)"
    )
    unsupported = [s for s in suites if peer is not None and not peer.supports(s)]
    lines = [
        "cosigner bench frost: median wall time of each FROST operation, in milliseconds",
        f"  cosigner {__version__} {peer_text}",
        f"  machine: {machine_description()}",
        f"  repeat: {repeat} timed runs per operation (x t for per-signer operations), "
        f"after {WARMUP_RUNS} warm-up run; time.perf_counter_ns, {len(MESSAGE)}-byte message",
        f"  suites: {', '.join(suites)}; sizes: {', '.join(size_label(*s) for s in sizes)}",
        "  dealer keygen: all n key packages and the public key package "
        "(frost_rs: get_key, n x gen_key_package)",
        "  DKG: part1, part2, part3 for all n participants in one process "
        "(frost_rs also encrypts round-two shares)",
        "  round two: each signer on its own fresh SigningPackage; "
        "aggregate: on a fresh package, with its signature check",
        "  verify: the signature against the group key "
        "(frost_rs: a public key package holding only that key)",
        "  full signing: t x round one, SigningPackage, t x round two, aggregate, verify; "
        "a fresh package per signing, shared in-process",
        "  full signing, per party: the same with a package of its own for every signer "
        "and the coordinator",
    ]
    if unsupported:
        lines.append(f"  frost_rs is not measured for {', '.join(unsupported)}")
    lines.append("")
    columns = ("suite", "size", "operation", "cosigner", "frost_rs", "ratio")
    lines.append("{:<10} {:<8} {:<24} {:>10} {:>10} {:>7}".format(*columns))
    return lines


def _target_lines(lines: Sequence[Line], peer: Peer | None) -> list[str]:
    full = {(ln.suite, ln.size): ln for ln in lines if ln.operation == FULL_SIGNING}
    per_party = {(ln.suite, ln.size): ln for ln in lines if ln.operation == FULL_SIGNING_PER_PARTY}
    out = ["", "targets: full signing, cosigner/frost_rs ratio at most the target"]
    passed = missed = 0
    for suite, t, n, limit in TARGETS:
        label = f"  {suite:<10} {size_label(t, n):<8} <= {limit:.2f}  "
        line = full.get((suite, (t, n)))
        if peer is None:
            out.append(label + "not measured: frost_rs not installed")
        elif line is None:
            out.append(label + "not measured: add it with --suites and --sizes")
        elif line.ratio is None:
            out.append(label + "not measured: frost_rs failed")
        else:
            verdict = "PASS" if line.ratio <= limit else "MISS"
            passed += verdict == "PASS"
            missed += verdict == "MISS"
            other = per_party[(suite, (t, n))].ratio
            note = f"  (one package per party: {other:.2f})" if other is not None else ""
            out.append(label + f"{line.ratio:.2f}  {verdict}{note}")
    unmeasured = len(TARGETS) - passed - missed
    out.append(f"targets: {passed} PASS, {missed} MISS, {unmeasured} not measured")
    return out


def run(
    repeat: int = DEFAULT_REPEAT,
    suites: Sequence[str] = DEFAULT_SUITES,
    sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES,
    out: TextIO | None = None,
    peer_loader: Callable[[], Peer | None] | None = None,
) -> list[Line]:
    """Run the benchmark, print the report to ``out`` (stdout) and return its lines."""
    stream = out if out is not None else sys.stdout

    def emit(text: str = "") -> None:
        print(text, file=stream, flush=True)

    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    peer = (peer_loader or load_peer)()
    for text in _header(repeat, peer, suites, sizes):
        emit(text)
    lines: list[Line] = []
    for suite in suites:
        for t, n in sizes:
            ours = measure_cosigner(suite, t, n, repeat)
            theirs: Samples | None = None
            if peer is not None and peer.supports(suite):
                try:
                    theirs = peer.measure(suite, t, n, repeat)
                except BaseException as exc:
                    if not is_peer_failure(exc):
                        raise
                    emit(f"frost_rs failed on {suite} {size_label(t, n)}: {exc!r}")
            for operation in OPERATIONS:
                line = Line(
                    suite,
                    (t, n),
                    operation,
                    ours.median_ms(operation),
                    theirs.median_ms(operation) if theirs is not None else None,
                )
                lines.append(line)
                emit(_format_line(line))
    if peer is not None and any(peer.supports(s) for s in suites):
        emit("")
        emit("frost_rs signatures were checked with cosigner.frost.verify on every warm-up run")
    for text in _target_lines(lines, peer):
        emit(text)
    return lines


__all__ = [
    "DEFAULT_REPEAT",
    "DEFAULT_SIZES",
    "DEFAULT_SUITES",
    "OPERATIONS",
    "TARGETS",
    "BenchError",
    "Line",
    "Peer",
    "load_peer",
    "measure_cosigner",
    "parse_sizes",
    "parse_suites",
    "run",
]
