"""``cosigner bench ecdsa``: threshold ECDSA, side by side with cait-sith.

For each t-of-n group (default 2-of-2 and 3-of-5) this times, with
``time.perf_counter_ns`` after one unrecorded warm-up run, and reports the
median in milliseconds:

* keygen - one whole DKG among the n participants;
* triples, batch B - one triple generation of B triples among the t
  signers, divided by B (the amortized cost of one triple), for B in 1, 10
  and 100;
* presign - one presigning among the t signers (two triples consumed);
* sign - one signing among the t signers, the coordinator combining and
  verifying;
* presign + sign - their sum, what one signature costs once triples exist.

Every participant runs in this process, so a time is the work of all of
them together. Our messages cross the wire form: each is encoded and decoded
again (``LocalNetwork(wire=True)``). It also reports the bytes each
participant sends (every message, envelope included, counted once per
recipient): per triple at each batch size, and per signature (presign and
sign).

The peer is ``cait_sith`` (PyPI ``cait-sith-py``, the ``bench`` extra): pyo3
bindings to the Rust cait-sith crate, driven through its ``poke`` /
``message`` interface with ``keygen``, ``generate_triple_many``, ``presign``
and ``sign``, its messages counted the same way (payload bytes only: it has
no envelope). Its signing is the original cait-sith one, where every
participant sends its share to every other and all of them combine; ours
sends shares to the coordinator only, and rerandomizes the presignature
(near/threshold-signatures). Peer signatures are checked with
:func:`cosigner.ecdsa.types.verify_ecdsa` on the warm-up run.

Targets (cosigner time / cait-sith time): triples in batches of 100 at most
0.5, presign + sign at most 3.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, TextIO

from cosigner import __version__, ecdsa
from cosigner.bench import (
    PeerRatio,
    Samples,
    import_peer,
    is_peer_failure,
    machine_description,
    parse_sizes,
    size_label,
)
from cosigner.ecdsa.math import G, N, lagrange
from cosigner.ecdsa.types import verify_ecdsa
from cosigner.protocol import LocalNetwork, Protocol

DEFAULT_REPEAT = 3
DEFAULT_SIZES = ((2, 2), (3, 5))
DEFAULT_BATCHES = (1, 10, 100)
WARMUP_RUNS = 1
PEER_BATCHES = (1, 10, 50, 100)
"""The batch sizes cait-sith-py's ``generate_triple_many`` accepts."""
DIGEST = hashlib.sha256(b"cosigner bench ecdsa").digest()

KEYGEN = "keygen"
PRESIGN = "presign"
SIGN = "sign"
PRESIGN_SIGN = "presign + sign"

TRIPLES_TARGET = (100, 0.5)
"""Batch size and the most cosigner/cait-sith per-triple time allowed."""
PRESIGN_SIGN_TARGET = 3.0
"""The most cosigner/cait-sith (presign + sign) time allowed."""

_clock = time.perf_counter_ns


class BenchError(Exception):
    """A benchmark run that produced a wrong result."""


def triples_op(batch: int) -> str:
    return f"triples, batch {batch}"


def parse_batches(text: str) -> list[int]:
    batches: list[int] = []
    for item in text.split(","):
        if not item.strip().isdigit() or not 1 <= int(item) <= ecdsa.triples.MAX_COUNT:
            raise ValueError(f"{item.strip()!r} is not a batch size in [1, 1024]")
        if int(item) not in batches:
            batches.append(int(item))
    return batches


@dataclass
class Measured:
    """Timings and bytes sent (per participant) of one implementation for one size."""

    samples: Samples = field(default_factory=Samples)
    triple_bytes: dict[int, list[int]] = field(default_factory=dict)
    signature_bytes: list[int] = field(default_factory=list)


def _check_triples(triples: dict[int, Any], signers: Sequence[int], a: str, b: str, c: str) -> None:
    first = triples[signers[0]]
    for k in range(len(first)):
        values = [
            sum(lagrange(signers, p) * int(getattr(triples[p][k], name)) for p in signers) % N
            for name in (a, b, c)
        ]
        if values[0] * values[1] % N != values[2]:
            raise BenchError(f"triple {k} is not a Beaver triple")


# -- cosigner -------------------------------------------------------------------------


def _run(sessions: dict[int, Protocol]) -> tuple[dict[int, Any], int, dict[int, int]]:
    net = LocalNetwork(sessions, wire=True)
    start = _clock()
    results = net.run()
    return results, _clock() - start, net.bytes_sent


def _cosigner_triples(
    signers: tuple[int, ...], t: int, count: int, run: int
) -> tuple[dict[int, list[ecdsa.TripleShare]], int, dict[int, int]]:
    sid = hashlib.sha256(f"triples {count} {run}".encode()).digest()
    sessions: dict[int, Protocol] = {
        p: ecdsa.TripleGeneration(
            session_id=sid, me=p, participants=signers, threshold=t, count=count
        )
        for p in signers
    }
    return _run(sessions)


def measure_cosigner(t: int, n: int, repeat: int, batches: Sequence[int]) -> Measured:
    out = Measured()
    ids = tuple(range(1, n + 1))
    signers = ids[:t]
    shares: dict[int, ecdsa.KeyShare] = {}
    for run in range(WARMUP_RUNS + repeat):
        target = out.samples if run >= WARMUP_RUNS else Samples()
        sid = hashlib.sha256(f"keygen {run}".encode()).digest()
        keygen: dict[int, Protocol] = {
            p: ecdsa.Keygen(session_id=sid, me=p, participants=ids, threshold=t) for p in ids
        }
        shares, elapsed, _ = _run(keygen)
        target.add(KEYGEN, elapsed)
        for batch in batches:
            triples, elapsed, sent = _cosigner_triples(signers, t, batch, run)
            target.add(triples_op(batch), elapsed // batch)
            if run < WARMUP_RUNS:
                _check_triples(triples, signers, "a", "b", "c")
            else:
                out.triple_bytes.setdefault(batch, [0] * t)
                for i, p in enumerate(signers):
                    out.triple_bytes[batch][i] = sent[p] // batch
    # Presign and sign on triples made beforehand (untimed), two per signature.
    pool, _, _ = _cosigner_triples(signers, t, 2 * (WARMUP_RUNS + repeat), -1)
    for run in range(WARMUP_RUNS + repeat):
        target = out.samples if run >= WARMUP_RUNS else Samples()
        sid = hashlib.sha256(f"presign {run}".encode()).digest()
        presign: dict[int, Protocol] = {
            p: ecdsa.Presign(
                session_id=sid,
                key_share=shares[p],
                triple0=pool[p][2 * run],
                triple1=pool[p][2 * run + 1],
                participants=signers,
            )
            for p in signers
        }
        presignatures, presign_ns, presign_sent = _run(presign)
        sign: dict[int, Protocol] = {
            p: ecdsa.Sign(
                session_id=sid,
                presignature=presignatures[p],
                digest=DIGEST,
                coordinator=signers[0],
                entropy=hashlib.sha256(sid).digest(),
            )
            for p in signers
        }
        signatures, sign_ns, sign_sent = _run(sign)
        target.add(PRESIGN, presign_ns)
        target.add(SIGN, sign_ns)
        target.add(PRESIGN_SIGN, presign_ns + sign_ns)
        signature = signatures[signers[0]]
        if not signature.verify(shares[signers[0]].public_key, DIGEST):
            raise BenchError("cosigner produced a signature that does not verify")
        out.signature_bytes = [presign_sent[p] + sign_sent[p] for p in signers]
    return out


# -- cait-sith ---------------------------------------------------------------------------


@dataclass
class Peer:
    """The installed cait_sith package (PyPI cait-sith-py)."""

    package: ModuleType
    version: str

    def _drive(
        self, protocols: list[tuple[Any, Any]]
    ) -> tuple[dict[int, Any], int, dict[int, int]]:
        """Run cait-sith protocols to completion: results, elapsed ns, bytes sent per party."""
        results: dict[int, Any] = {}
        sent = {int(p.id): 0 for p, _ in protocols}
        others = len(protocols) - 1
        by_id = {int(p.id): proto for p, proto in protocols}
        start = _clock()
        while len(results) < len(protocols):
            progressed = False
            for participant, proto in protocols:
                pid = int(participant.id)
                if pid in results:
                    continue
                while True:
                    action = proto.poke()
                    kind = type(action).__name__
                    if kind.endswith("Wait"):
                        break
                    progressed = True
                    if kind.endswith("SendMany"):
                        data = action.message_data
                        sent[pid] += len(data) * others
                        for qid, q in by_id.items():
                            if qid != pid:
                                q.message(participant, data)
                    elif kind.endswith("SendPrivate"):
                        data = action.message_data
                        sent[pid] += len(data)
                        by_id[int(action.participant.id)].message(participant, data)
                    elif kind.endswith("Return"):
                        results[pid] = action.result
                        break
                    else:  # pragma: no cover - a cait-sith version we do not know
                        raise BenchError(f"unknown cait-sith action {kind}")
            if not progressed and len(results) < len(protocols):
                raise BenchError("cait-sith protocols stopped making progress")
        return results, _clock() - start, sent

    def measure(self, t: int, n: int, repeat: int, batches: Sequence[int]) -> Measured:
        cs = self.package
        out = Measured()
        everyone = [cs.Participant(i) for i in range(n)]
        signers = everyone[:t]
        signer_ids = [int(p.id) for p in signers]
        keys: dict[int, Any] = {}
        for run in range(WARMUP_RUNS + repeat):
            target = out.samples if run >= WARMUP_RUNS else Samples()
            keys, elapsed, _ = self._drive([(p, cs.keygen(everyone, p, t)) for p in everyone])
            target.add(KEYGEN, elapsed)
            for batch in batches:
                if batch not in PEER_BATCHES:
                    continue
                triples, elapsed, sent = self._drive(
                    [(p, cs.generate_triple_many(signers, p, t, batch)) for p in signers]
                )
                target.add(triples_op(batch), elapsed // batch)
                if run < WARMUP_RUNS:
                    shares = {
                        pid: [_PeerTriple(x.share) for x in triples[pid].data] for pid in signer_ids
                    }
                    # cait-sith's participant i is also the scalar i + 1.
                    _check_triples(shares, signer_ids, "a", "b", "c")
                else:
                    out.triple_bytes[batch] = [sent[pid] // batch for pid in signer_ids]
        # cait-sith-py makes batches of 1, 10, 50 or 100 only: pool batches of 10.
        pool: dict[int, list[Any]] = {pid: [] for pid in signer_ids}
        while len(pool[signer_ids[0]]) < 2 * (WARMUP_RUNS + repeat):
            made, _, _ = self._drive(
                [(p, cs.generate_triple_many(signers, p, t, 10)) for p in signers]
            )
            for pid in signer_ids:
                pool[pid].extend(made[pid].data)
        for run in range(WARMUP_RUNS + repeat):
            target = out.samples if run >= WARMUP_RUNS else Samples()
            presign = [
                (
                    p,
                    cs.presign(
                        signers,
                        p,
                        cs.PresignArguments(
                            pool[int(p.id)][2 * run],
                            pool[int(p.id)][2 * run + 1],
                            keys[int(p.id)],
                            t,
                        ),
                    ),
                )
                for p in signers
            ]
            presignatures, presign_ns, presign_sent = self._drive(presign)
            public_key = keys[signer_ids[0]].public_key
            sign = [
                (p, cs.sign(signers, p, public_key, presignatures[int(p.id)], DIGEST))
                for p in signers
            ]
            signatures, sign_ns, sign_sent = self._drive(sign)
            target.add(PRESIGN, presign_ns)
            target.add(SIGN, sign_ns)
            target.add(PRESIGN_SIGN, presign_ns + sign_ns)
            if run < WARMUP_RUNS:
                _check_peer_signature(public_key, signatures[signer_ids[0]])
            out.signature_bytes = [presign_sent[p] + sign_sent[p] for p in signer_ids]
        return out


class _PeerTriple:
    """A cait-sith triple share with its scalars as ints (its JSON holds them as hex)."""

    def __init__(self, share: Any) -> None:
        self.a = _peer_int(share.a)
        self.b = _peer_int(share.b)
        self.c = _peer_int(share.c)


def _peer_int(value: Any) -> int:
    return int(str(value).strip('"'), 16)


def _check_peer_signature(public_key: Any, signature: Any) -> None:
    point = G.decode_element(bytes.fromhex(str(public_key).strip('"')))
    big_r = G.decode_element(bytes.fromhex(str(signature.big_r).strip('"')))
    r = int.from_bytes(big_r.to_bytes()[1:], "big") % N
    s = _peer_int(signature.s)
    if not verify_ecdsa(point, DIGEST, r, s):
        raise BenchError("cait-sith produced a signature that does not verify")


def load_peer() -> Peer | None:
    """cait_sith when it is installed (``pip install 'cosigner[bench]'``), else None."""
    found = import_peer("cait_sith", "cait-sith-py")
    return None if found is None else Peer(*found)


# -- report ------------------------------------------------------------------------------


@dataclass
class Line(PeerRatio):
    size: tuple[int, int]
    operation: str
    cosigner_ms: float
    peer_ms: float | None


def _kb(values: Sequence[int]) -> str:
    return " / ".join(f"{v / 1000:.1f}" for v in values)


def _format_line(line: Line) -> str:
    peer, ratio = line.peer_and_ratio_text()
    return (
        f"{size_label(*line.size):<8} {line.operation:<30} "
        f"{line.cosigner_ms:>11.3f} {peer:>11} {ratio:>7}"
    )


def _header(repeat: int, peer: Peer | None, sizes: Sequence[tuple[int, int]]) -> list[str]:
    peer_text = (
        f"against cait-sith-py {peer.version} (the Rust cait-sith crate through pyo3)"
        if peer is not None
        else "alone: cait-sith-py is not installed (pip install 'cosigner[bench]')"
    )
    return [
        "cosigner bench ecdsa: median wall time in milliseconds, every participant in this process",
        f"  cosigner {__version__} {peer_text}",
        f"  machine: {machine_description()}",
        f"  repeat: {repeat} timed runs per operation, after {WARMUP_RUNS} warm-up run; "
        "time.perf_counter_ns",
        f"  sizes: {', '.join(size_label(*s) for s in sizes)}; keygen among all n, "
        "triples, presign and sign among the first t",
        "  triples, batch B: one generation of B triples, divided by B (per triple); "
        "our messages are encoded and decoded on every delivery",
        "  sign: cosigner sends shares to a coordinator and rerandomizes; "
        "cait-sith broadcasts shares and every party combines",
        "",
        "{:<8} {:<30} {:>11} {:>11} {:>7}".format(
            "size", "operation", "cosigner", "cait-sith", "ratio"
        ),
    ]


def _bytes_lines(
    size: tuple[int, int], ours: Measured, theirs: Measured | None, batches: Sequence[int]
) -> list[str]:
    out = []
    label = size_label(*size)
    for batch in batches:
        peer = "-" if theirs is None else _kb(theirs.triple_bytes.get(batch, []))
        out.append(
            f"{label:<8} {'per triple, ' + triples_op(batch):<38} "
            f"{_kb(ours.triple_bytes[batch]):>22} {peer:>22}"
        )
    peer = "-" if theirs is None else _kb(theirs.signature_bytes)
    out.append(
        f"{label:<8} {'per signature (presign + sign)':<38} "
        f"{_kb(ours.signature_bytes):>22} {peer:>22}"
    )
    return out


def _target_lines(lines: Sequence[Line], peer: Peer | None) -> list[str]:
    batch, triples_limit = TRIPLES_TARGET
    by_key = {(ln.size, ln.operation): ln for ln in lines}
    sizes = sorted({ln.size for ln in lines})
    out = ["", "targets: cosigner/cait-sith ratio at most the target"]
    passed = missed = unmeasured = 0
    for size in sizes:
        for operation, limit in (
            (triples_op(batch), triples_limit),
            (PRESIGN_SIGN, PRESIGN_SIGN_TARGET),
        ):
            label = f"  {size_label(*size):<8} {operation:<24} <= {limit:.2f}  "
            line = by_key.get((size, operation))
            if peer is None:
                out.append(label + "not measured: cait-sith-py not installed")
                unmeasured += 1
            elif line is None or line.ratio is None:
                out.append(label + "not measured")
                unmeasured += 1
            else:
                verdict = "PASS" if line.ratio <= limit else "MISS"
                passed += verdict == "PASS"
                missed += verdict == "MISS"
                out.append(label + f"{line.ratio:.2f}  {verdict}")
    out.append(f"targets: {passed} PASS, {missed} MISS, {unmeasured} not measured")
    return out


def run(
    repeat: int = DEFAULT_REPEAT,
    sizes: Sequence[tuple[int, int]] = DEFAULT_SIZES,
    batches: Sequence[int] = DEFAULT_BATCHES,
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
    for text in _header(repeat, peer, sizes):
        emit(text)
    lines: list[Line] = []
    measured: dict[tuple[int, int], tuple[Measured, Measured | None]] = {}
    operations = [KEYGEN, *(triples_op(b) for b in batches), PRESIGN, SIGN, PRESIGN_SIGN]
    for t, n in sizes:
        ours = measure_cosigner(t, n, repeat, batches)
        theirs: Measured | None = None
        if peer is not None:
            try:
                theirs = peer.measure(t, n, repeat, batches)
            except BaseException as exc:
                if not is_peer_failure(exc):
                    raise
                emit(f"cait-sith failed on {size_label(t, n)}: {exc!r}")
        measured[(t, n)] = (ours, theirs)
        for operation in operations:
            line = Line(
                (t, n),
                operation,
                ours.samples.median_ms(operation),
                theirs.samples.median_ms(operation)
                if theirs is not None and theirs.samples.count(operation)
                else None,
            )
            lines.append(line)
            emit(_format_line(line))
    emit("")
    emit("bytes sent by each participant, in KB (1000 bytes), first signer first")
    emit("{:<8} {:<38} {:>22} {:>22}".format("size", "what", "cosigner", "cait-sith"))
    for size, (ours, theirs) in measured.items():
        for text in _bytes_lines(size, ours, theirs, batches):
            emit(text)
    for text in _target_lines(lines, peer):
        emit(text)
    return lines


# -- command line -------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _argument(parse: Callable[[str], object]) -> Callable[[str], object]:
    def convert(text: str) -> object:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


DESCRIPTION = (
    "Median times of threshold ECDSA keygen, triple generation (per triple, in batches), "
    "presign and sign, and the bytes each participant sends; side by side with cait-sith "
    "(pip install 'cosigner[bench]') when it is installed."
)


def configure(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """Add the ``bench ecdsa`` options to ``parser``."""
    parser.add_argument(
        "--repeat",
        type=_positive_int,
        default=DEFAULT_REPEAT,
        help=f"timed runs per operation (default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--sizes",
        type=_argument(parse_sizes),
        default=",".join(size_label(t, n) for t, n in DEFAULT_SIZES),
        help="comma-separated t-of-n group sizes (default: %(default)s)",
    )
    parser.add_argument(
        "--batches",
        type=_argument(parse_batches),
        default=",".join(str(b) for b in DEFAULT_BATCHES),
        help="comma-separated triple batch sizes (default: %(default)s)",
    )
    parser.set_defaults(handler=handle)
    return parser


def add_parser(subparsers: Any) -> argparse.ArgumentParser:
    """Register ``ecdsa`` under ``cosigner bench``."""
    return configure(
        subparsers.add_parser(
            "ecdsa",
            help="threshold ECDSA keygen, triples, presign and sign, against cait-sith",
            description=DESCRIPTION,
        )
    )


def handle(args: argparse.Namespace) -> int:
    sizes = args.sizes if isinstance(args.sizes, list) else parse_sizes(args.sizes)
    batches = args.batches if isinstance(args.batches, list) else parse_batches(args.batches)
    try:
        run(repeat=args.repeat, sizes=sizes, batches=batches)
    except BenchError as exc:
        print(f"cosigner bench ecdsa: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``cosigner bench ecdsa [--repeat N] [--sizes 2-of-2,3-of-5] [--batches 1,10,100]``."""
    parser = configure(
        argparse.ArgumentParser(prog="cosigner bench ecdsa", description=DESCRIPTION)
    )
    return handle(parser.parse_args(argv))


__all__ = [
    "DEFAULT_BATCHES",
    "DEFAULT_REPEAT",
    "DEFAULT_SIZES",
    "BenchError",
    "Line",
    "Peer",
    "add_parser",
    "configure",
    "load_peer",
    "main",
    "measure_cosigner",
    "run",
]
