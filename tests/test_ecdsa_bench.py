"""``cosigner bench ecdsa`` runs and reports, with and without its peer."""

from __future__ import annotations

import io

import pytest

from cosigner.bench import ecdsa as ecdsa_bench
from cosigner.cli import main as cli_main


def test_bench_report_without_peer() -> None:
    out = io.StringIO()
    lines = ecdsa_bench.run(
        repeat=1, sizes=[(2, 2)], batches=[1, 2], out=out, peer_loader=lambda: None
    )
    text = out.getvalue()
    operations = {line.operation for line in lines}
    assert {"keygen", "triples, batch 1", "triples, batch 2", "presign", "sign"} <= operations
    assert "per signature (presign + sign)" in text
    assert "not measured: cait-sith-py not installed" in text
    assert all(line.cosigner_ms > 0 for line in lines)


def test_bench_cli_with_peer_if_installed(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("cait_sith")
    assert cli_main(["bench", "ecdsa", "--repeat", "1", "--sizes", "2-of-2", "--batches", "1"]) == 0
    text = capsys.readouterr().out
    assert "cait-sith-py" in text and "presign + sign" in text and "PASS" in text


def test_bench_arguments() -> None:
    assert ecdsa_bench.parse_sizes("2-of-2,3-of-5") == [(2, 2), (3, 5)]
    assert ecdsa_bench.parse_batches("1,10,100") == [1, 10, 100]
    for bad in ("2", "1-of-3", "3-of-2"):
        with pytest.raises(ValueError):
            ecdsa_bench.parse_sizes(bad)
    with pytest.raises(ValueError):
        ecdsa_bench.parse_batches("0")
