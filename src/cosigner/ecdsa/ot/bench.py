"""Micro-benchmark of the OT layer: pair setup and batched pairwise multiplication.

Run ``python -m cosigner.ecdsa.ot.bench [batch sizes...]``. Both parties run
in this process, one after the other, so the numbers are CPU time per side
with no network. For each batch size it prints the time of every step, the
per-triple cost of each side, the message sizes per triple, and the cost of
serializing and restoring each state (what a stateless server pays per step).
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from typing import Any, TypeVar

from cosigner.ecdsa.ot.multiplication import (
    Inputs,
    multiply_batch_higher_challenge,
    multiply_batch_higher_encrypt,
    multiply_batch_higher_finish,
    multiply_batch_lower_check,
    multiply_batch_lower_finish,
    multiply_batch_lower_start,
)
from cosigner.ecdsa.ot.setup import (
    PairSetup,
    setup_higher_respond,
    setup_lower_finish,
    setup_lower_start,
)
from cosigner.groups import SECP256K1

T = TypeVar("T")


def _timed(fn: Callable[[], T]) -> tuple[T, float]:
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start


def _best(fn: Callable[[], T], repeat: int) -> tuple[T, float]:
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        result, elapsed = _timed(fn)
        best = min(best, elapsed)
    return result, best


def _reload(obj: Any) -> float:
    _, elapsed = _timed(lambda: type(obj).from_bytes(obj.to_bytes()))
    return elapsed


def _one_batch(
    lower: PairSetup, higher: PairSetup, sid: bytes, inputs_l: Inputs, inputs_h: Inputs
) -> tuple[dict[str, float], dict[str, int]]:
    """Both sides of one batch; the time of each step and the size of each message."""
    rng = random.Random(sid).randbytes
    steps: dict[str, float] = {}
    (s1, m1), steps["L1 start"] = _timed(
        lambda: multiply_batch_lower_start(lower, sid, inputs_l, rng)
    )
    (h1, m2), steps["H1 challenge"] = _timed(
        lambda: multiply_batch_higher_challenge(higher, sid, inputs_h, m1, rng)
    )
    (s2, m3), steps["L2 check"] = _timed(lambda: multiply_batch_lower_check(s1, m2))
    (h2, m4), steps["H2 encrypt"] = _timed(lambda: multiply_batch_higher_encrypt(h1, m3, rng))
    (_, m5), steps["L3 finish"] = _timed(lambda: multiply_batch_lower_finish(s2, m4, rng))
    _, steps["H3 finish"] = _timed(lambda: multiply_batch_higher_finish(h2, m5))
    sizes = {
        "m1 U": len(m1.to_bytes()),
        "m2 s": len(m2.to_bytes()),
        "m3 x,t": len(m3.to_bytes()),
        "m4 c": len(m4.to_bytes()),
        "m5 s,chi1": len(m5.to_bytes()),
    }
    return steps, sizes


def _state_reloads(
    lower: PairSetup, higher: PairSetup, sid: bytes, inputs_l: Inputs, inputs_h: Inputs
) -> dict[str, float]:
    """The cost of ``to_bytes`` then ``from_bytes`` for each intermediate state."""
    rng = random.Random(sid).randbytes
    s1, m1 = multiply_batch_lower_start(lower, sid, inputs_l, rng)
    h1, m2 = multiply_batch_higher_challenge(higher, sid, inputs_h, m1, rng)
    reloads = {"L after start": _reload(s1), "H after challenge": _reload(h1)}
    s2, m3 = multiply_batch_lower_check(s1, m2)
    h2, _ = multiply_batch_higher_encrypt(h1, m3, rng)
    reloads.update({"L after check": _reload(s2), "H after encrypt": _reload(h2)})
    return reloads


def run(batch_sizes: list[int], repeat: int = 3) -> None:
    rnd = random.Random(1)
    q = SECP256K1.order

    def setup() -> tuple[PairSetup, PairSetup]:
        state, m1 = setup_lower_start(rnd.randbytes)
        higher, m2 = setup_higher_respond(m1, rnd.randbytes)
        return setup_lower_finish(state, m2), higher

    (lower, higher), elapsed = _best(setup, repeat)
    print(f"pair setup (128 base OTs, both sides): {elapsed * 1e3:.1f} ms")

    for count in batch_sizes:
        inputs_l = [(rnd.randrange(q), rnd.randrange(q)) for _ in range(count)]
        inputs_h = [(rnd.randrange(q), rnd.randrange(q)) for _ in range(count)]
        runs = [
            _one_batch(lower, higher, b"bench-%d-%d" % (count, i), inputs_l, inputs_h)
            for i in range(repeat)
        ]
        steps, sizes = min(runs, key=lambda r: sum(r[0].values()))
        reloads = _state_reloads(lower, higher, b"bench-reload", inputs_l, inputs_h)

        lower_ms = sum(v for k, v in steps.items() if k.startswith("L")) * 1e3 / count
        higher_ms = sum(v for k, v in steps.items() if k.startswith("H")) * 1e3 / count
        print(f"\nbatch of {count} triples (768 random OTs + 2 MTAs per triple, one pair)")
        for name, value in steps.items():
            print(f"  {name:<14} {value * 1e3:9.2f} ms   {value * 1e3 / count:7.3f} ms/triple")
        print(
            f"  per triple: LOWER {lower_ms:.3f} ms, HIGHER {higher_ms:.3f} ms, "
            f"both {lower_ms + higher_ms:.3f} ms"
        )
        print(
            "  bytes/triple: "
            + ", ".join(f"{k} {v / count:,.0f}" for k, v in sizes.items())
            + f" (total {sum(sizes.values()) / count:,.0f})"
        )
        print(
            "  state to_bytes+from_bytes: "
            + ", ".join(f"{k} {v * 1e3 / count:.3f}" for k, v in reloads.items())
            + " ms/triple"
        )


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    run([int(a) for a in args] or [1, 10, 100])


if __name__ == "__main__":
    main()
