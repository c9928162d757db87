"""``cosigner bench chains``: build an intent and finalize it, for every chain payload kind.

For each registered payload kind this times, with ``time.perf_counter_ns``:

* ``build_intent`` - the adapter's whole front half: validate and normalize
  the payload, encode it, hash it, and build the reviewable ``ui_model``;
* ``finalize`` - check the signature, recover or verify the signer where the
  chain allows, and encode the signed artifacts (raw transaction, hash);
* the peer, when the kind has one: the well-known library's own
  encode-and-hash of the same payload (for EVM, eth-account). The peer does
  strictly less than ``build_intent`` (no review model, no normal form), so
  the ratio ``build_intent / peer`` is a conservative comparison.

Each sample is the mean of ``number`` back-to-back calls, the three
operations interleaved sample by sample so they share the machine's state;
the report gives the median sample, in microseconds, after one warm-up
batch. Before timing, each kind is run once and checked: ``finalize`` must
succeed on the signatures, and the peer's digest must equal our sign
request's bytes (the same transaction, byte for byte).

Registry: :data:`KINDS`. A chain adds its kinds from its own module
``cosigner/bench/chains_<chain>.py`` by calling :func:`register` at import;
:func:`load_kinds` imports every such module, so no shared file changes when
a chain is added. :func:`sign_locally` signs with fixed, public bench keys
(:data:`BENCH_SECP256K1_SECRET`, :data:`BENCH_ED25519_SEED`) for kinds whose
payload names its signer.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TextIO

from cosigner import __version__
from cosigner.bench import Samples, machine_description
from cosigner.chains.engines import LocalKeyEngine
from cosigner.chains.intent import ChainAdapter, SigningIntent
from cosigner.errors import CosignerError

DEFAULT_REPEAT = 15
DEFAULT_NUMBER = 200
WARMUP_BATCHES = 1

BUILD = "build_intent"
FINALIZE = "finalize"
PEER = "peer"

BENCH_SECP256K1_SECRET = bytes.fromhex(
    "4c0883a69102937d6231471b5dbb6204fe5129617082792ae468d01a3f362318"
)
"""A well-known test key (eth-account's documentation key); never holds value."""
BENCH_ED25519_SEED = bytes(range(32))
"""A fixed Ed25519 seed for benchmark payloads that name their signer."""
BENCH_KEY_REF = "bench"

_clock = time.perf_counter_ns


class BenchError(Exception):
    """A benchmark run that produced a wrong result (a peer digest that differs from ours)."""


@dataclass(frozen=True)
class Peer:
    """The peer library's encode-and-hash of the same payload."""

    name: str
    """Library and version, e.g. ``eth-account 0.14.0``."""
    operation: str
    """What is timed, as code: ``TypedTransaction.from_dict(tx).hash()``."""
    digest: Callable[[], bytes]
    """One encode-and-hash; returns the digest, which must equal our sign request."""


@dataclass(frozen=True)
class BenchKind:
    """One payload kind of one chain, with the payload timed and how to sign it."""

    chain: str
    kind: str
    label: str
    """Which payload of the kind, for people: ``EIP-1559, ERC-20 transfer``."""
    adapter: ChainAdapter
    payload: Mapping[str, Any]
    sign: Callable[[SigningIntent], Sequence[bytes]]
    peer: Callable[[], Peer | None] | None = None
    """Builds the peer case, or returns None when the peer is not installed."""
    target: float | None = None
    """``build_intent / peer`` ratio the project aims at (at most)."""


KINDS: list[BenchKind] = []
"""Every registered kind, in registration order."""


def register(*kinds: BenchKind) -> None:
    """Add kinds to :data:`KINDS`; a chain's ``chains_<chain>`` module calls this at import."""
    for kind in kinds:
        if kind not in KINDS:
            KINDS.append(kind)


def load_kinds() -> list[BenchKind]:
    """Import every ``cosigner.bench.chains_<chain>`` module, then return :data:`KINDS`."""
    import cosigner.bench as package

    for info in sorted(pkgutil.iter_modules(package.__path__), key=lambda i: i.name):
        if info.name.startswith("chains_"):
            importlib.import_module(f"{package.__name__}.{info.name}")
    return list(KINDS)


def sign_locally(intent: SigningIntent) -> list[bytes]:
    """Sign every request with the bench keys through :class:`LocalKeyEngine`."""
    engine = LocalKeyEngine()
    engine.add_secp256k1(BENCH_KEY_REF, BENCH_SECP256K1_SECRET)
    engine.add_ed25519(BENCH_KEY_REF, BENCH_ED25519_SEED)
    return [engine.sign(request, BENCH_KEY_REF) for request in intent.sign_requests]


# -- measuring ------------------------------------------------------------------------


def _per_call_ns(operation: Callable[[], object], number: int) -> int:
    start = _clock()
    for _ in range(number):
        operation()
    return (_clock() - start) // number


@dataclass
class Line:
    kind: BenchKind
    build_us: float
    finalize_us: float
    peer: Peer | None
    peer_us: float | None

    @property
    def ratio(self) -> float | None:
        if self.peer_us is None or self.peer_us == 0:
            return None
        return self.build_us / self.peer_us


def measure(kind: BenchKind, repeat: int, number: int) -> Line:
    """Check ``kind`` once, then time build_intent, finalize and the peer."""
    intent = kind.adapter.build_intent(kind.kind, kind.payload)
    signatures = list(kind.sign(intent))
    intent.finalize(signatures)
    peer = kind.peer() if kind.peer is not None else None
    if peer is not None:
        theirs = peer.digest()
        ours = intent.sign_requests[0].message
        if theirs != ours:
            raise BenchError(
                f"{kind.chain} {kind.kind} ({kind.label}): {peer.name} hashes to "
                f"{theirs.hex()}, cosigner to {ours.hex()}: not the same payload"
            )

    adapter, name, payload = kind.adapter, kind.kind, kind.payload

    def build() -> object:
        return adapter.build_intent(name, payload)

    def finalize() -> object:
        return intent.finalize(signatures)

    samples = Samples()
    for batch in range(WARMUP_BATCHES + repeat):
        target = samples if batch >= WARMUP_BATCHES else Samples()
        target.add(BUILD, _per_call_ns(build, number))
        target.add(FINALIZE, _per_call_ns(finalize, number))
        if peer is not None:
            target.add(PEER, _per_call_ns(peer.digest, number))
    return Line(
        kind,
        samples.median_ms(BUILD) * 1e3,
        samples.median_ms(FINALIZE) * 1e3,
        peer,
        samples.median_ms(PEER) * 1e3 if peer is not None else None,
    )


# -- report ---------------------------------------------------------------------------


def _format_line(line: Line) -> str:
    peer = "-" if line.peer_us is None else f"{line.peer_us:.1f}"
    ratio = "-" if line.ratio is None else f"{line.ratio:.2f}"
    return (
        f"{line.kind.chain:<7} {line.kind.kind:<14} {line.kind.label:<30} "
        f"{line.build_us:>12.1f} {line.finalize_us:>9.1f} {peer:>9} {ratio:>6}"
    )


def _header(repeat: int, number: int) -> list[str]:
    return [
        "cosigner bench chains: median time per call of each chain payload kind, in microseconds",
        f"  cosigner {__version__}",
        f"  machine: {machine_description()}",
        f"  repeat: {repeat} samples, each the mean of {number} calls, after "
        f"{WARMUP_BATCHES} warm-up batch; time.perf_counter_ns",
        "  build_intent: validate, normalize, encode, hash, and build the ui_model",
        "  finalize: check the signature, recover or verify the signer, encode the artifacts",
        "  peer: the peer library's encode-and-hash of the same payload (no review model); "
        "ratio = build_intent / peer",
        "",
        f"{'chain':<7} {'kind':<14} {'payload':<30} {'build_intent':>12} {'finalize':>9} "
        f"{'peer':>9} {'ratio':>6}",
    ]


def _peer_lines(lines: Sequence[Line]) -> list[str]:
    seen: dict[tuple[str, str], list[str]] = {}
    for line in lines:
        if line.peer is not None:
            seen.setdefault((line.kind.chain, line.peer.name), []).append(
                f"{line.kind.label}: {line.peer.operation}"
            )
    out: list[str] = []
    for (chain, name), operations in seen.items():
        out.append(f"peer for {chain}: {name}")
        out.extend(f"  {text}" for text in operations)
    return out


def _target_lines(lines: Sequence[Line]) -> list[str]:
    targeted = [ln for ln in lines if ln.kind.target is not None]
    if not targeted:
        return []
    out = ["targets: build_intent / peer ratio at most the target"]
    passed = missed = 0
    for line in targeted:
        label = (
            f"  {line.kind.chain:<7} {line.kind.kind:<14} {line.kind.label:<30} "
            f"<= {line.kind.target:.2f}  "
        )
        if line.ratio is None:
            out.append(label + "not measured: the peer is not installed")
            continue
        assert line.kind.target is not None
        verdict = "PASS" if line.ratio <= line.kind.target else "MISS"
        passed += verdict == "PASS"
        missed += verdict == "MISS"
        out.append(label + f"{line.ratio:.2f}  {verdict}")
    out.append(
        f"targets: {passed} PASS, {missed} MISS, {len(targeted) - passed - missed} not measured"
    )
    return out


def run(
    repeat: int = DEFAULT_REPEAT,
    number: int = DEFAULT_NUMBER,
    chains: Sequence[str] | None = None,
    out: TextIO | None = None,
) -> list[Line]:
    """Run the benchmark, print the report to ``out`` (stdout) and return its lines."""
    stream = out if out is not None else sys.stdout

    def emit(text: str = "") -> None:
        print(text, file=stream, flush=True)

    if repeat < 1 or number < 1:
        raise ValueError("repeat and number must be at least 1")
    kinds = [k for k in load_kinds() if chains is None or k.chain in chains]
    for text in _header(repeat, number):
        emit(text)
    lines: list[Line] = []
    for kind in kinds:
        line = measure(kind, repeat, number)
        lines.append(line)
        emit(_format_line(line))
    if not kinds:
        emit("(no payload kinds registered for the chains asked for)")
    for block in (_peer_lines(lines), _target_lines(lines)):
        if block:
            emit()
            for text in block:
                emit(text)
    return lines


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``cosigner bench chains``, for this module's parser and the CLI's."""
    parser.add_argument(
        "--repeat",
        type=_positive_int,
        default=DEFAULT_REPEAT,
        help=f"timed samples per operation (default {DEFAULT_REPEAT})",
    )
    parser.add_argument(
        "--number",
        type=_positive_int,
        default=DEFAULT_NUMBER,
        help=f"calls per sample (default {DEFAULT_NUMBER})",
    )
    parser.add_argument(
        "--chains",
        type=lambda text: [c.strip() for c in text.split(",") if c.strip()],
        default=None,
        help="comma-separated chains to run (default: every registered chain)",
    )


DESCRIPTION = (
    "Median times to build and finalize a signing intent for every chain payload kind, "
    "side by side with the peer library's encode-and-hash (eth-account for EVM)."
)


def build_parser(prog: str = "cosigner bench chains") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    add_arguments(parser)
    return parser


def run_args(args: argparse.Namespace) -> int:
    """Run with parsed options; prints a failed check to stderr and returns 1."""
    try:
        run(repeat=args.repeat, number=args.number, chains=args.chains)
    except (BenchError, CosignerError) as exc:
        print(f"cosigner bench chains: {exc}", file=sys.stderr)
        return 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``cosigner bench chains [--repeat N] [--number N] [--chains evm,...]``."""
    return run_args(build_parser().parse_args(argv))


__all__ = [
    "BENCH_ED25519_SEED",
    "BENCH_SECP256K1_SECRET",
    "DEFAULT_NUMBER",
    "DEFAULT_REPEAT",
    "KINDS",
    "BenchError",
    "BenchKind",
    "Line",
    "Peer",
    "add_arguments",
    "load_kinds",
    "main",
    "measure",
    "register",
    "run",
    "run_args",
    "sign_locally",
]
