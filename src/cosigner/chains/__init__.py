"""Chain adapters: payload in, exact bytes to sign and a reviewable summary out.

:mod:`.intent` is the seam (SigningIntent, SignRequest, finalize);
:mod:`.engines` holds the signer engines; one module per chain
(:mod:`.evm`, :mod:`.tempo`, :mod:`.near`, :mod:`.solana`).
:func:`adapter` returns the adapter for a chain name, imported on first use
so a caller pays only for the chains it signs on.
"""

from __future__ import annotations

from importlib import import_module

from cosigner.chains.errors import PayloadError
from cosigner.chains.intent import ChainAdapter, Finalized, SigningIntent, SignRequest

_ADAPTERS = {
    "evm": ("cosigner.chains.evm", "EvmAdapter"),
    "tempo": ("cosigner.chains.tempo", "TempoAdapter"),
    "near": ("cosigner.chains.near", "NearAdapter"),
    "solana": ("cosigner.chains.solana", "SolanaAdapter"),
}
CHAINS: tuple[str, ...] = tuple(_ADAPTERS)
_cache: dict[str, ChainAdapter] = {}


def adapter(chain: str) -> ChainAdapter:
    """The adapter for ``evm``, ``tempo``, ``near`` or ``solana``."""
    found = _cache.get(chain)
    if found is None:
        try:
            module, name = _ADAPTERS[chain]
        except KeyError:
            known = ", ".join(CHAINS)
            raise PayloadError("chain", f"unknown chain {chain!r}; one of {known}") from None
        found = _cache[chain] = getattr(import_module(module), name)()
    return found


__all__ = [
    "CHAINS",
    "ChainAdapter",
    "Finalized",
    "SignRequest",
    "SigningIntent",
    "adapter",
]
