"""Shared fixtures.

``interop_node_modules``: the reference JavaScript libraries of the interop
lane (``tests/interop``, pinned in its package.json and package-lock.json),
installed once per session with ``npm ci`` when ``node_modules`` is missing.
Tests that use it are skipped, with the reason, when Node.js or npm is not
installed or the install fails (no network), so ``make test`` runs the lane
wherever Node.js is present.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

INTEROP = Path(__file__).resolve().parent / "interop"
NPM_CI_TIMEOUT_S = 300


@pytest.fixture(scope="session")
def interop_node_modules() -> Path:
    """The ``tests/interop`` folder, with its npm packages installed; skips without Node.js."""
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed: the JavaScript interop lane is skipped")
    if not (INTEROP / "node_modules").is_dir():
        npm = shutil.which("npm")
        if npm is None:
            pytest.skip("npm is not installed: cannot install the interop packages")
        try:
            done = subprocess.run(
                [npm, "ci", "--no-audit", "--no-fund"],
                cwd=INTEROP,
                capture_output=True,
                text=True,
                timeout=NPM_CI_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            pytest.skip(f"npm ci in tests/interop took over {NPM_CI_TIMEOUT_S} s")
        if done.returncode != 0:
            pytest.skip(f"npm ci in tests/interop failed: {done.stderr.strip()[-500:]}")
    return INTEROP
