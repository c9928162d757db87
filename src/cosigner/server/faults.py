"""Test-only fault injection: the server process kills itself at a named point.

``COSIGNER_TESTING_FAULT=<point>[,<point>...]`` makes the process SIGKILL
itself when it reaches one of the named points, as a crash would (a power
cut, the OOM killer, ``kill -9``): no cleanup, no answer to the request in
flight. It is honoured only when ``COSIGNER_TESTING=1`` is set as well, so
a stray variable in a production environment does nothing.

Points:

* ``after_consume``: threshold ECDSA ``sign/finalize``, right after its
  unit of work committed (the presignature consumed, the signature computed
  and audited), before the signature is answered;
* ``after_presign_cas``: threshold ECDSA ``presign/step``, right after the
  step's compare-and-swap won, before the answer leaves.

The multi-instance tests (``tests/server/test_server_multi_instance.py``)
use them to show that a crash at these points loses nothing that matters:
the consumed presignature is never offered again, and a presign step whose
answer was lost is answered again, identically, by another instance.
"""

from __future__ import annotations

import os
import signal
from typing import Final

TESTING_ENV: Final = "COSIGNER_TESTING"
FAULT_ENV: Final = "COSIGNER_TESTING_FAULT"
AFTER_CONSUME: Final = "after_consume"
AFTER_PRESIGN_CAS: Final = "after_presign_cas"


def fault_point(name: str) -> None:
    """SIGKILL this process if ``name`` is an armed fault point (testing only)."""
    if os.environ.get(TESTING_ENV) != "1":
        return
    armed = {part.strip() for part in os.environ.get(FAULT_ENV, "").split(",")}
    if name in armed:
        os.kill(os.getpid(), signal.SIGKILL)


__all__ = [
    "AFTER_CONSUME",
    "AFTER_PRESIGN_CAS",
    "FAULT_ENV",
    "TESTING_ENV",
    "fault_point",
]
