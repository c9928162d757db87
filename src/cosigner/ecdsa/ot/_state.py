"""Single-use discipline shared by every protocol state of the OT layer.

Continuing a state twice would, depending on the layer, answer two
consistency challenges with the same choice bits (leaking them past the
padding) or encrypt the same OT outputs twice. In-process, a state refuses a
second continuation and refuses to be serialized once continued; across
processes, the store that holds serialized states must hand each one out once.
"""

from __future__ import annotations

from cosigner.ecdsa.ot.errors import OtStateReusedError


class SingleUse:
    __slots__ = ("_used",)

    def __init__(self) -> None:
        self._used = False

    @property
    def used(self) -> bool:
        return self._used

    def _consume(self) -> None:
        if self._used:
            raise OtStateReusedError(f"this {type(self).__name__} was already continued")
        self._used = True

    def _check_storable(self) -> None:
        if self._used:
            raise OtStateReusedError(f"a continued {type(self).__name__} must not be stored")
