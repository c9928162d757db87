"""The ``cosigner`` command, run in process: demo, bench frost, --version and bad input."""

from __future__ import annotations

from typing import Any

import pytest

from cosigner import __version__, cli
from cosigner.bench import frost as frost_bench
from cosigner.client.http import Api

SUITES = ("ed25519", "secp256k1", "ristretto255", "secp256k1-tr")


def test_demo_signs_and_verifies_in_every_ciphersuite(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["demo"]) == 0
    out = capsys.readouterr().out
    for suite in SUITES:
        assert f"\n{suite} (" in out
    assert out.count("  verified ") == len(SUITES)
    assert "cryptography's Ed25519PublicKey" in out
    assert "coincurve's PublicKeyXOnly" in out
    assert "cosigner.reference (RFC 9591 on coincurve" in out
    assert "cosigner.reference (RFC 9591 on rbcl" in out
    assert "(our own)" not in out
    assert out.count("changed message is rejected") == len(SUITES)
    assert f"all {len(SUITES)} signatures verified" in out
    assert "FAILED" not in out


def test_demo_exits_non_zero_when_a_verification_fails(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def rejecting_verifier(suite_name: str) -> cli.Verifier:
        return cli.Verifier("a verifier that rejects everything", True, lambda *_: False)

    monkeypatch.setattr(cli, "demo_verifier", rejecting_verifier)
    assert cli.main(["demo"]) == 1
    out = capsys.readouterr().out
    assert "NOT VERIFIED" in out
    assert "FAILED in ed25519, secp256k1, ristretto255, secp256k1-tr" in out


def _operation_lines(out: str, suite: str, size: str) -> dict[str, str]:
    lines = {}
    for line in out.splitlines():
        if line.startswith(f"{suite} ") and f" {size} " in line:
            for operation in frost_bench.OPERATIONS:
                if f" {operation} " in line:
                    lines[operation] = line
    return lines


def test_bench_frost_prints_every_operation(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["bench", "frost", "--repeat", "2", "--suites", "ed25519,secp256k1", "--sizes", "2-of-3"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "repeat: 2 timed runs" in out
    assert "machine: " in out
    for suite in ("ed25519", "secp256k1"):
        lines = _operation_lines(out, suite, "2-of-3")
        assert sorted(lines) == sorted(frost_bench.OPERATIONS)
    assert "targets: " in out
    if frost_bench.load_peer() is not None:
        assert "frost_rs signatures were checked with cosigner.frost.verify" in out
        assert "ed25519    2-of-3   <= 0.50" in out
        assert "7-of-10  <= 0.70  not measured" in out


def test_bench_frost_without_frost_rs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(frost_bench, "load_peer", lambda: None)
    argv = ["bench", "frost", "--repeat", "1", "--suites", "ristretto255", "--sizes", "2-of-2"]
    assert cli.main(argv) == 0
    out = capsys.readouterr().out
    assert "frost_rs is not installed" in out
    lines = _operation_lines(out, "ristretto255", "2-of-2")
    assert sorted(lines) == sorted(frost_bench.OPERATIONS)
    assert all(line.split()[-2:] == ["-", "-"] for line in lines.values())
    assert "targets: 0 PASS, 0 MISS, 4 not measured" in out


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"cosigner {__version__}"


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["bench"],
        ["bench", "frost", "--sizes", "3-of-2"],
        ["bench", "frost", "--sizes", "1-of-3"],
        ["bench", "frost", "--sizes", "two-of-three"],
        ["bench", "frost", "--suites", "p256"],
        ["bench", "frost", "--repeat", "0"],
    ],
)
def test_bad_arguments_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        cli.main(argv)
    assert exc.value.code == 2
    assert "usage: cosigner" in capsys.readouterr().err


def test_parse_sizes_and_suites() -> None:
    assert frost_bench.parse_sizes("2-of-3, 7-of-10,2-of-3") == [(2, 3), (7, 10)]
    assert frost_bench.parse_suites("secp256k1-tr,ed25519") == ["secp256k1-tr", "ed25519"]
    with pytest.raises(ValueError, match="2 <= t <= n"):
        frost_bench.parse_sizes("4-of-3")
    with pytest.raises(ValueError, match="unknown ciphersuite"):
        frost_bench.parse_suites("ed448")


@pytest.mark.parametrize("port", ["0", "65536", "70000", "-1", "http"])
def test_serve_refuses_a_port_outside_1_to_65535(
    port: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.build_parser().parse_args(["serve", "--port", port])
    assert caught.value.code == 2
    assert "--port" in capsys.readouterr().err


@pytest.mark.parametrize("port", [1, 8080, 65535])
def test_serve_takes_a_port_from_1_to_65535(port: int) -> None:
    assert cli.build_parser().parse_args(["serve", "--port", str(port)]).port == port


@pytest.mark.parametrize("server", ["http://[::1", "http://[::1]:8080x", "http://host:port"])
def test_server_demo_reports_a_bad_url_without_a_traceback(
    server: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert cli.main(["demo", "--server", server]) == 1
    out = capsys.readouterr().out
    assert "FAILED" in out
    assert "is not a usable server URL" in out
    assert "Traceback" not in out


def test_server_demo_reports_an_answer_it_cannot_describe(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    def readyz_without_store(self: Api, path: str, token: str | None = None) -> dict[str, Any]:
        return {"schemes": {"ecdsa": True, "ed25519": True}}

    monkeypatch.setattr(Api, "get", readyz_without_store)
    assert cli.main(["demo", "--server", "http://127.0.0.1:9"]) == 1
    out = capsys.readouterr().out
    assert "server ready" in out
    assert "FAILED: KeyError: 'store'" in out
    assert "FAILED at: server ready" in out
