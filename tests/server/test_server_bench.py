"""``cosigner bench server``, small: every line it prints, both schemes, two server workers.

The numbers are not checked (they are the benchmark's business); what is:
the server starts with two worker processes on one port (``SO_REUSEPORT``)
over one SQLite file, both schemes co-sign through it (FROST, and ECDSA from
a pool filled first), every phase prints its line with a PASS or MISS
verdict, and the server is stopped afterwards.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from cosigner.bench import server as bench
from cosigner.cli import build_parser


def test_bench_server_small_run_prints_every_line(tmp_path: Path) -> None:
    lines: list[str] = []
    report = bench.run(
        clients=4,
        signatures=8,
        rate=50.0,
        workers=2,
        store_url=f"sqlite:///{tmp_path / 'bench.db'}",
        out=lines.append,
    )
    text = "\n".join(lines)
    for scheme in ("FROST(Ed25519)", "ECDSA (pool)"):
        mine = [line for line in lines if scheme in line]
        assert any("crypto only, in process" in line for line in mine), text
        assert any("saturated:" in line and ("PASS" in line or "MISS" in line) for line in mine)
        assert any("paced 50/s:" in line for line in mine)
        assert any("served / crypto bound" in line for line in mine)
    assert "pool filled: 20 presignatures" in text  # 4 users x (1 warm-up + 2 x 2)
    assert "--workers 2" in text
    assert ("all targets met" in text) == (not report.missed)
    assert lines[-1].startswith(("MISS:", "all targets met"))


def test_bench_server_arguments() -> None:
    parser = build_parser()
    args = parser.parse_args(["bench", "server", "--clients", "3", "--schemes", "ecdsa"])
    assert (args.clients, args.schemes, args.workers) == (3, ["ecdsa"], None)
    for bad in (["--schemes", "rsa"], ["--rate", "0"], ["--clients", "0"]):
        with pytest.raises(SystemExit):
            parser.parse_args(["bench", "server", *bad])


def test_serve_workers_refuses_a_port_in_use(capsys: pytest.CaptureFixture[str]) -> None:
    from cosigner.server.run import _serve_workers

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert _serve_workers("127.0.0.1", port, 2, "warning") == 2
    assert "cannot listen" in capsys.readouterr().err
