"""Benchmarks behind ``cosigner bench``.

Every claim of speed the project makes comes from here (DESIGN.md, principle
7): a benchmark times cosigner and, when it is installed, the peer
implementation it is compared with, in the same process and the same run, and
prints the medians side by side. This package holds what every benchmark
shares: sample collection, medians and a description of the machine.

* :mod:`cosigner.bench.frost` - FROST key generation and signing against
  ``frost_rs`` (the ``bench`` extra).
* :mod:`cosigner.bench.ecdsa` - threshold ECDSA keygen, triples, presign and
  sign against ``cait-sith-py`` (the ``bench`` extra).
"""

from __future__ import annotations

import os
import platform
import statistics
from collections import defaultdict


class Samples:
    """Wall-time samples in nanoseconds, grouped by operation name."""

    def __init__(self) -> None:
        self._ns: defaultdict[str, list[int]] = defaultdict(list)

    def add(self, operation: str, elapsed_ns: int) -> None:
        self._ns[operation].append(elapsed_ns)

    def count(self, operation: str) -> int:
        return len(self._ns.get(operation, ()))

    def median_ms(self, operation: str) -> float:
        """The median of the samples of ``operation``, in milliseconds."""
        samples = self._ns.get(operation)
        if not samples:
            raise KeyError(f"no samples for {operation!r}")
        return statistics.median(samples) / 1e6


def machine_description() -> str:
    """Python implementation and version, platform, and CPU count, on one line."""
    return (
        f"{platform.python_implementation()} {platform.python_version()}, "
        f"{platform.platform()}, {os.cpu_count() or '?'} CPUs"
    )


__all__ = ["Samples", "machine_description"]
