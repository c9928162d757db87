"""Benchmarks behind ``cosigner bench``.

Every claim of speed the project makes comes from here (DESIGN.md, principle
7): a benchmark times cosigner and, when it is installed, the peer
implementation it is compared with, in the same process and the same run, and
prints the medians side by side. This package holds what every benchmark
shares: sample collection, medians, a description of the machine, ``t-of-n``
group sizes, loading the peer and the cosigner/peer ratio of a report line.

* :mod:`cosigner.bench.frost` - FROST key generation and signing against
  ``frost_rs`` (the ``bench`` extra).
* :mod:`cosigner.bench.ecdsa` - threshold ECDSA keygen, triples, presign and
  sign against ``cait-sith-py`` (the ``bench`` extra).
"""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import platform
import statistics
from collections import defaultdict
from types import ModuleType


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


def size_label(min_signers: int, max_signers: int) -> str:
    return f"{min_signers}-of-{max_signers}"


def parse_sizes(text: str) -> list[tuple[int, int]]:
    """``"2-of-3,7-of-10"`` to ``[(2, 3), (7, 10)]``; raises ValueError with a reason."""
    sizes: list[tuple[int, int]] = []
    for item in text.split(","):
        parts = item.strip().split("-of-")
        if len(parts) != 2 or not all(p.isdigit() for p in parts):
            raise ValueError(f"{item.strip()!r} is not a group size like 2-of-3")
        t, n = int(parts[0]), int(parts[1])
        if t < 2 or n < t:
            raise ValueError(f"{item.strip()!r}: need 2 <= t <= n")
        if (t, n) not in sizes:
            sizes.append((t, n))
    return sizes


def import_peer(module: str, distribution: str) -> tuple[ModuleType, str] | None:
    """The peer's package and its distribution's version, or None when it is not installed."""
    try:
        package = importlib.import_module(module)
    except ImportError:
        return None
    try:
        version = importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        version = "unknown version"
    return package, version


def is_peer_failure(exc: BaseException) -> bool:
    """Whether the peer failed (report it and go on) rather than being interrupted.

    The peers are pyo3 bindings, which report Rust panics as PanicException, a
    BaseException; interrupts and exits must still propagate.
    """
    return isinstance(exc, Exception) or type(exc).__name__ == "PanicException"


class PeerRatio:
    """The ``ratio`` of a report line: cosigner's median over the peer's."""

    cosigner_ms: float
    peer_ms: float | None

    @property
    def ratio(self) -> float | None:
        if self.peer_ms is None or self.peer_ms == 0:
            return None
        return self.cosigner_ms / self.peer_ms

    def peer_and_ratio_text(self) -> tuple[str, str]:
        """The peer's median and the ratio as report columns, ``-`` where unmeasured."""
        peer = "-" if self.peer_ms is None else f"{self.peer_ms:.3f}"
        ratio = "-" if self.ratio is None else f"{self.ratio:.2f}"
        return peer, ratio


__all__ = [
    "PeerRatio",
    "Samples",
    "import_peer",
    "is_peer_failure",
    "machine_description",
    "parse_sizes",
    "size_label",
]
