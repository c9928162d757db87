"""The ``cosigner`` command.

* ``cosigner demo`` - in every FROST ciphersuite, a 2-of-3 group generates its
  key by DKG, two members sign a message, and the signature is checked by an
  independent verifier where one is installed (``cryptography`` for Ed25519,
  libsecp256k1 through ``coincurve`` for BIP-340) and by
  :func:`cosigner.frost.verify` otherwise.
* ``cosigner demo --server URL`` - the client flow against a running server
  (register, log in, keygen, sign on EVM and NEAR, verify); see
  :mod:`cosigner.client.demo`.
* ``cosigner bench frost`` - FROST timings, side by side with ``frost_rs`` when
  it is installed; see :mod:`cosigner.bench.frost`.
* ``cosigner bench chains`` - build_intent and finalize per chain payload kind,
  side by side with eth-account for EVM; see :mod:`cosigner.bench.chains`.
* ``cosigner bench ecdsa`` - threshold ECDSA keygen, triples, presign and sign,
  side by side with cait-sith when it is installed; see :mod:`cosigner.bench.ecdsa`.
* ``cosigner bench multisig`` - the multisig server end to end (DKG, proposal to
  ready) with owners as concurrent clients; see :mod:`cosigner.bench.multisig`.
* ``cosigner bench server`` - two-party co-signatures per second and latency
  through a real server with concurrent clients; see :mod:`cosigner.bench.server`.
* ``cosigner multisig ...`` - the multisig owner's commands; see :mod:`cosigner.multisig.cli`.
* ``cosigner serve`` - the co-signing server (``COSIGNER_*`` environment
  variables; see :mod:`cosigner.server.settings`).
* ``cosigner --version``.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import cryptography.exceptions
from coincurve import PublicKeyXOnly
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from cosigner import __version__, frost, reference
from cosigner.errors import CosignerError
from cosigner.frost import dkg
from cosigner.groups import Secp256k1Element

DEMO_SUITES = ("ed25519", "secp256k1", "ristretto255", "secp256k1-tr")
DEMO_MIN_SIGNERS = 2
DEMO_MAX_SIGNERS = 3
DEMO_SIGNERS = (1, 3)


# -- demo -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Verifier:
    """Who checks the demo's signatures, and whether it shares no code with cosigner."""

    name: str
    independent: bool
    check: Callable[[bytes, bytes, bytes], bool]
    """``check(group_key, message, signature)``: True when the signature is valid."""


def _ed25519_check(group_key: bytes, message: bytes, signature: bytes) -> bool:
    try:
        Ed25519PublicKey.from_public_bytes(group_key).verify(signature, message)
    except cryptography.exceptions.InvalidSignature:
        return False
    return True


def _bip340_check(group_key: bytes, message: bytes, signature: bytes) -> bool:
    return PublicKeyXOnly(group_key).verify(signature, message) is True


def _frost_check(suite_name: str) -> Callable[[bytes, bytes, bytes], bool]:
    def check(group_key: bytes, message: bytes, signature: bytes) -> bool:
        try:
            frost.verify(suite_name, group_key, message, signature)
        except frost.InvalidSignature:
            return False
        return True

    return check


def demo_verifier(suite_name: str) -> Verifier:
    if suite_name == "ed25519":
        return Verifier("cryptography's Ed25519PublicKey (OpenSSL)", True, _ed25519_check)
    if suite_name == "secp256k1-tr":
        return Verifier("coincurve's PublicKeyXOnly (libsecp256k1)", True, _bip340_check)
    if suite_name == "secp256k1":
        return Verifier(
            "cosigner.reference (RFC 9591 on coincurve's public API)",
            True,
            reference.verify_frost_secp256k1,
        )
    if suite_name == "ristretto255":
        return Verifier(
            "cosigner.reference (RFC 9591 on rbcl's libsodium)",
            True,
            reference.verify_frost_ristretto255,
        )
    return Verifier("cosigner.frost.verify", False, _frost_check(suite_name))


@dataclass
class DemoResult:
    suite: str
    context: str
    verifier: Verifier
    participants: list[int] = field(default_factory=list)
    signers: list[int] = field(default_factory=list)
    message: bytes = b""
    group_key: bytes = b""
    signature: bytes = b""
    timings_ms: dict[str, float] = field(default_factory=dict)
    verified: bool = False
    tampered_rejected: bool = False
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and self.verified and self.tampered_rejected


def _ms_since(start_ns: int) -> float:
    return (time.perf_counter_ns() - start_ns) / 1e6


def run_demo_suite(suite_name: str) -> DemoResult:
    """DKG for a 2-of-3 group, a signature by two members, and its verification."""
    suite = frost.ciphersuite(suite_name)
    result = DemoResult(suite_name, suite.context_string.decode(), demo_verifier(suite_name))
    try:
        start = time.perf_counter_ns()
        key_packages, public = dkg.keygen_local(suite, DEMO_MIN_SIGNERS, DEMO_MAX_SIGNERS)
        result.timings_ms["DKG"] = _ms_since(start)
        result.participants = sorted(int(i) for i in key_packages)
        result.signers = [int(i) for i in DEMO_SIGNERS]
        result.message = f"cosigner demo: pay 1 coin, signed with {suite_name}".encode()
        vk = public.verifying_key
        if suite_name == "secp256k1-tr":
            assert isinstance(vk, Secp256k1Element)
            result.group_key = vk.x_only()
        else:
            result.group_key = vk.to_bytes()

        start = time.perf_counter_ns()
        round_one = {i: frost.commit(key_packages[frost.Identifier(i)]) for i in result.signers}
        result.timings_ms["round one"] = _ms_since(start)

        package = frost.SigningPackage(
            suite, {i: commitments for i, (_, commitments) in round_one.items()}, result.message
        )
        start = time.perf_counter_ns()
        shares = {
            i: frost.sign(package, nonces, key_packages[frost.Identifier(i)])
            for i, (nonces, _) in round_one.items()
        }
        result.timings_ms["round two"] = _ms_since(start)

        start = time.perf_counter_ns()
        result.signature = frost.aggregate(package, shares, public)
        result.timings_ms["aggregate"] = _ms_since(start)

        start = time.perf_counter_ns()
        result.verified = result.verifier.check(result.group_key, result.message, result.signature)
        result.timings_ms["verify"] = _ms_since(start)
        result.tampered_rejected = not result.verifier.check(
            result.group_key, result.message + b"!", result.signature
        )
    except Exception as exc:  # reported, and the command exits non-zero
        result.error = f"{type(exc).__name__}: {exc}"
    return result


def _names(ids: Sequence[int]) -> str:
    return ", ".join(str(i) for i in ids)


def _row(label: str, text: str, ms: float | None = None) -> str:
    timing = f"{ms:>9.2f} ms" if ms is not None else ""
    return f"  {label:<10} {text:<62}{timing}".rstrip()


def format_demo_result(r: DemoResult) -> list[str]:
    out = [f"{r.suite} ({r.context})"]
    t = r.timings_ms
    if "DKG" in t:
        dkg_text = (
            f"DKG among participants {_names(r.participants)}, any {DEMO_MIN_SIGNERS} can sign"
        )
        out.append(_row("keygen", dkg_text, t["DKG"]))
        key_kind = " (x-only, BIP-341 tweaked)" if r.suite == "secp256k1-tr" else ""
        out.append(_row("group key", r.group_key.hex() + key_kind))
        offline = [p for p in r.participants if p not in r.signers]
        out.append(_row("signers", f"{_names(r.signers)}; {_names(offline)} stays offline"))
        out.append(_row("message", repr(r.message.decode())))
    if "round one" in t:
        out.append(_row("round one", f"{len(r.signers)} nonce commitments", t["round one"]))
    if "round two" in t:
        out.append(_row("round two", f"{len(r.signers)} signature shares", t["round two"]))
    if "aggregate" in t:
        out.append(_row("aggregate", "one signature, checked by the coordinator", t["aggregate"]))
        out.append(_row("signature", f"{r.signature.hex()} ({len(r.signature)} bytes)"))
    if "verify" in t:
        status = "verified" if r.verified else "NOT VERIFIED"
        kind = "" if r.verifier.independent else " (our own)"
        out.append(_row(status, f"by {r.verifier.name}{kind}", t["verify"]))
        if not r.verifier.independent:
            out.append(_row("", "no independent verifier for this ciphersuite is installed"))
        rejected = "rejected" if r.tampered_rejected else "ACCEPTED: the verifier is broken"
        out.append(_row("tampered", f"the signature on a changed message is {rejected}"))
    if r.error is not None:
        out.append(_row("FAILED", r.error))
    return out


def demo() -> int:
    print(f"cosigner {__version__} demo: FROST (RFC 9591) in every ciphersuite")
    print(
        f"  a {DEMO_MIN_SIGNERS}-of-{DEMO_MAX_SIGNERS} group generates its key by DKG, "
        f"{len(DEMO_SIGNERS)} of its members sign, an independent verifier checks where one exists"
    )
    print("  times are of a single cold run; `cosigner bench frost` measures medians")
    results = []
    for name in DEMO_SUITES:
        result = run_demo_suite(name)
        results.append(result)
        print()
        for line in format_demo_result(result):
            print(line)
    failed = [r.suite for r in results if not r.ok]
    print()
    if failed:
        print(f"FAILED in {', '.join(failed)}")
        return 1
    print(f"all {len(results)} signatures verified ({', '.join(r.suite for r in results)})")
    return 0


# -- bench ----------------------------------------------------------------------------


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError("a TCP port is 1 to 65535")
    return value


def _argument(parse: Callable[[str], object]) -> Callable[[str], object]:
    """Turn a parser's ValueError into argparse's usage error."""

    def convert(text: str) -> object:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    return convert


def bench_frost(args: argparse.Namespace) -> int:
    from cosigner.bench import frost as frost_bench

    try:
        frost_bench.run(repeat=args.repeat, suites=args.suites, sizes=args.sizes)
    except (frost_bench.BenchError, CosignerError) as exc:
        print(f"cosigner bench frost: {exc}", file=sys.stderr)
        return 1
    return 0


def bench_chains(args: argparse.Namespace) -> int:
    from cosigner.bench import chains as chains_bench

    return chains_bench.run_args(args)


# -- serve ----------------------------------------------------------------------------


def serve(args: argparse.Namespace) -> int:
    from cosigner.server.run import serve as run_server

    return run_server(args.host, args.port, log_level=args.log_level, workers=args.workers)


# -- entry point ----------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    from cosigner.bench import chains as chains_bench
    from cosigner.bench import frost as frost_bench

    parser = argparse.ArgumentParser(
        prog="cosigner", description="Threshold signing for Python: FROST (RFC 9591)."
    )
    parser.add_argument("--version", action="version", version=f"cosigner {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    demo_parser = commands.add_parser(
        "demo",
        help="DKG, 2-of-3 signing and independent verification in every FROST ciphersuite",
        description="For each FROST ciphersuite: a 2-of-3 DKG, a signature by two of the "
        "three, and a check of it by an independent verifier where one is installed. "
        "With --server: the client flow against a running cosigner server instead.",
    )
    demo_parser.add_argument(
        "--server",
        metavar="URL",
        help="run the client flow against this server (register, log in, keygen, sign on "
        "EVM and NEAR, verify), e.g. http://127.0.0.1:8080",
    )
    demo_parser.add_argument(
        "--origin",
        metavar="URL",
        help="the passkey origin with --server (default: the server URL, 127.0.0.1 "
        "written localhost); one of the server's COSIGNER_ORIGINS",
    )

    bench = commands.add_parser("bench", help="time cosigner against its peers")
    benchmarks = bench.add_subparsers(dest="benchmark", required=True, metavar="BENCHMARK")
    bench_frost_parser = benchmarks.add_parser(
        "frost",
        help="FROST keygen, DKG and signing, against frost_rs when it is installed",
        description="Median times of FROST dealer keygen, DKG, round one, round two, "
        "aggregate, verify and a full signing; side by side with frost_rs "
        "(pip install 'cosigner[bench]') when it is installed.",
    )
    bench_frost_parser.add_argument(
        "--repeat",
        type=_positive_int,
        default=frost_bench.DEFAULT_REPEAT,
        help=f"timed runs per operation (default {frost_bench.DEFAULT_REPEAT})",
    )
    bench_frost_parser.add_argument(
        "--suites",
        type=_argument(frost_bench.parse_suites),
        default=",".join(frost_bench.DEFAULT_SUITES),
        help="comma-separated ciphersuites (default: %(default)s)",
    )
    bench_frost_parser.add_argument(
        "--sizes",
        type=_argument(frost_bench.parse_sizes),
        default=",".join(f"{t}-of-{n}" for t, n in frost_bench.DEFAULT_SIZES),
        help="comma-separated t-of-n group sizes (default: %(default)s)",
    )
    bench_frost_parser.set_defaults(handler=bench_frost)
    bench_chains_parser = benchmarks.add_parser(
        "chains",
        help="build_intent and finalize per chain payload kind, against eth-account for EVM",
        description=chains_bench.DESCRIPTION,
    )
    chains_bench.add_arguments(bench_chains_parser)
    bench_chains_parser.set_defaults(handler=bench_chains)
    from cosigner.bench import ecdsa as ecdsa_bench

    ecdsa_bench.add_parser(benchmarks)
    from cosigner.bench import multisig as multisig_bench
    from cosigner.multisig import cli as multisig_cli

    multisig_bench.add_parser(benchmarks)
    from cosigner.bench import server as server_bench

    server_bench.add_parser(benchmarks)
    multisig_cli.add_parser(commands)

    serve_parser = commands.add_parser(
        "serve",
        help="run the co-signing server",
        description="Run the co-signing server. Configuration comes from COSIGNER_* "
        "environment variables; the store from COSIGNER_STORE_URL "
        "(default sqlite:///./cosigner.db).",
    )
    serve_parser.add_argument("--host", default="127.0.0.1", help="default %(default)s")
    serve_parser.add_argument("--port", type=_port, default=8080, help="default %(default)s")
    serve_parser.add_argument(
        "--log-level",
        default="info",
        choices=("critical", "error", "warning", "info", "debug"),
        help="default %(default)s",
    )
    serve_parser.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        help="uvicorn worker processes sharing the port and the store (default %(default)s)",
    )
    serve_parser.set_defaults(handler=serve)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "demo":
        if args.server:
            from cosigner.client.demo import run_server_demo

            return run_server_demo(args.server, origin=args.origin)
        if args.origin:
            parser.error("--origin goes with --server")
        return demo()
    handler: Callable[[argparse.Namespace], int] = args.handler
    return handler(args)


if __name__ == "__main__":
    sys.exit(main())
