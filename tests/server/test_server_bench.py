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


def test_ticks_of_reads_a_stat_line_whose_command_has_spaces_and_parentheses() -> None:
    fields = ["S", "4242", *["0"] * 9, "150", "25", *["0"] * 30]
    line = "777 (python -m (odd) name) " + " ".join(fields)
    assert bench._ticks_of(line) == (4242, 175)


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="reads /proc (Linux only)")
def test_process_tree_cpu_counts_a_busy_child() -> None:
    import os
    import subprocess
    import sys

    before = bench.process_tree_cpu_s(os.getpid())
    assert before is not None
    spin = "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.4: pass\n"
    child = subprocess.Popen(
        [
            sys.executable,
            "-c",
            spin + "import sys; sys.stdout.write('x'); sys.stdout.flush()\ntime.sleep(30)",
        ],
        stdout=subprocess.PIPE,
    )
    try:
        assert child.stdout is not None and child.stdout.read(1) == b"x"  # spun, now asleep
        after = bench.process_tree_cpu_s(os.getpid())
        assert after is not None
        assert after - before >= 0.35  # the child's 0.4 s, counted in its parent's tree
        own_child = bench.process_tree_cpu_s(child.pid)
        assert own_child is not None and 0.35 <= own_child < after
    finally:
        child.kill()
        child.wait()
    assert bench.process_tree_cpu_s(child.pid) is None  # gone: nothing to read


def test_cpu_ceiling_is_the_tighter_of_the_server_cores_and_all_cores() -> None:
    use = bench.CpuUse(server_ms=1.0, clients_ms=0.5)
    assert use.ceiling(workers=1, cores=2) == pytest.approx(1000)  # one process, one core
    assert use.ceiling(workers=2, cores=2) == pytest.approx(2000 / 1.5)  # the cores, shared
    assert use.ceiling(workers=4, cores=1) == pytest.approx(1000 / 1.5)
