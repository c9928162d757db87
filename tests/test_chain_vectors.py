"""Every JSON vector file under COSIGNER_CHAIN_VECTORS, dispatched by chain folder.

The folder (default ``../shared/vectors/chains`` next to the repository) holds
one subfolder per chain (``evm``, ``tempo``, ``near``, ``solana``); each file
in it is one test. The dispatch table is a naming convention, so adding a
chain touches no shared file:

    ``<chain>/`` -> ``tests/chain_checks_<chain>.py`` -> ``check_<chain>_file(path, data)``

A checker raises (assert) on the first wrong value, or collects failures and
reports them together; it must check every vector of the file it is given,
and fail on a vector shape it does not recognize rather than skip it. A chain
folder whose checker module does not exist yet is reported as skipped, with
the module it is waiting for.
"""

from __future__ import annotations

import importlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parent.parent
VECTORS = Path(
    os.environ.get("COSIGNER_CHAIN_VECTORS", REPO.parent / "shared" / "vectors" / "chains")
)

Checker = Callable[[Path, Any], None]


def checker_module(chain: str) -> str:
    """The dispatch table: chain folder name to the module holding its checker."""
    return f"chain_checks_{chain}"


def load_checker(chain: str) -> Checker | None:
    name = checker_module(chain)
    try:
        module = importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise
    check: Checker = getattr(module, f"check_{chain}_file")
    return check


def _files() -> list[Path]:
    if not VECTORS.is_dir():
        return []
    return sorted(VECTORS.glob("*/*.json"))


FILES = _files()


@pytest.mark.skipif(not FILES, reason=f"no chain vector files under {VECTORS}")
@pytest.mark.parametrize("path", FILES or [Path("none")], ids=lambda p: f"{p.parent.name}/{p.name}")
def test_chain_vector_file(path: Path) -> None:
    chain = path.parent.name
    check = load_checker(chain)
    if check is None:
        pytest.skip(
            f"no checker for chain {chain!r} yet: add tests/{checker_module(chain)}.py "
            f"defining check_{chain}_file(path, data)"
        )
    check(path, json.loads(path.read_text(encoding="utf-8")))
