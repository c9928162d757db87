"""Bit matrices and GF(2^128) arithmetic for OT extension, vectorized with NumPy.

The OT extension protocols (``docs/ecdsa/ot_based_ecdsa/triples.md``,
"Extended Oblivious Transfer") work on boolean matrices with one row per
extended OT and λ = 128 columns, one per base OT. This module holds the
bit-level machinery they share; the Rust counterpart is
``src/ecdsa/ot_based_ecdsa/triples/bits.rs``.

Conventions, used everywhere in the package:

* A λ-bit vector is 16 bytes, bit ``j`` being bit ``j % 8`` of byte ``j // 8``
  (least significant bit first), exactly as ``BitVector::bytes`` in the Rust.
  As an element of GF(2^128), bit ``j`` is the coefficient of ``X^j``.
* A batch of ``count`` extensions of ``rows`` OTs each is held **column
  major**: an array of shape ``(count, 128, rows // 8)`` whose ``[k, j]`` entry
  is column ``j`` of extension ``k`` (bit ``i`` is row ``i``). This is the
  shape the PRG produces, the shape the consistency check consumes, and the
  shape of the correlated OT message. :func:`transpose_columns` turns it into
  rows, shape ``(count, rows, 16)``, for hashing.
* The consistency check works in GF(2^128) = GF(2)[X] / (X^128 + X^7 + X^2 +
  X + 1), the field of KOS15, SoftSpokenOT and GCM, as the spec says ("field
  elements in F_{2^λ}"). Products are summed unreduced (255-bit polynomials)
  and each sum is reduced once (:func:`gf_reduce`); reduction is linear, so
  this equals the sum of reduced products. The Rust code skips the reduction
  altogether (``BitVector::gf_mul`` returns an unreduced ``DoubleBitVector``
  and the receiver sends 255-bit values). We reduce because the unreduced
  ``x = Σ b̂_i·χ_i`` is only masked by the two padding blocks when their
  weights are coprime polynomials of full degree, which fails about half the
  time and then leaks linear relations among the receiver's choice bits; in
  the field one nonzero weight on one uniform padding block masks ``x``
  perfectly.
"""

from __future__ import annotations

import hashlib
from typing import Final

import numpy as np
import numpy.typing as npt

LAMBDA: Final = 128
"""The security parameter λ: base OTs per pair, width of the extension matrices."""
LAMBDA_BYTES: Final = LAMBDA // 8
PRODUCT_BYTES: Final = 2 * LAMBDA_BYTES
"""An unreduced product of two λ-bit polynomials (degree at most 254) in bytes."""

U8Array = npt.NDArray[np.uint8]
U64Array = npt.NDArray[np.uint64]

_U64LE: Final = np.dtype("<u8")
_PRG_DST: Final = b"cosigner/ecdsa/ot/v1/correlated-ot-prg"
_CHI_DST: Final = b"cosigner/ecdsa/ot/v1/random-ot-check-chi"
# Triples whose lookup tables are built at once in gf_inner_products: small
# enough that the tables stay in cache, large enough to amortize NumPy calls.
_CHECK_CHUNK: Final = 8
_DELTA_SWAPS: Final = ((7, 0x00AA00AA00AA00AA), (14, 0x0000CCCC0000CCCC), (28, 0x00000000F0F0F0F0))


def bits_to_array(data: bytes, n: int) -> U8Array:
    """The first ``n`` bits of ``data`` (LSB first) as an array of 0/1 bytes."""
    return np.unpackbits(np.frombuffer(data, dtype=np.uint8), count=n, bitorder="little")


def key_rows(keys: bytes) -> U8Array:
    """λ keys of λ bits, concatenated, as a ``(λ, 16)`` array."""
    return np.frombuffer(keys, dtype=np.uint8).reshape(LAMBDA, LAMBDA_BYTES)


def prg_expand(keys: U8Array, sid: bytes, nonce: bytes, rows: int, count: int) -> U8Array:
    """``PRG_sid(K_j)`` for every row ``K_j`` of ``keys``, for ``count`` extensions at once.

    Spec, "Correlated OT Extension", steps 1-2: ``T_ij = PRG_sid(K_j•)_i``. The
    PRG is SHAKE128 over a domain tag, the batch session id, the receiver's
    nonce, the extension size and the key; extension ``k`` of the batch takes
    bytes ``[k * rows / 8, (k + 1) * rows / 8)`` of the stream. The session id
    of one extension is therefore ``(sid, nonce, rows, k)``, unique whenever
    the batch's is. Returns shape ``(count, 128, rows // 8)``.
    """
    width = rows // 8
    prefix = hashlib.shake_128()
    prefix.update(_PRG_DST + len(sid).to_bytes(4, "big") + sid + nonce + rows.to_bytes(4, "big"))
    n = width * count
    streams = []
    for key in keys:
        h = prefix.copy()
        h.update(key.tobytes())
        streams.append(h.digest(n))
    out = np.frombuffer(b"".join(streams), dtype=np.uint8).reshape(len(keys), count, width)
    return out.transpose(1, 0, 2).copy()


def expand_chi(seed: bytes, rows: int, count: int) -> U64Array:
    """The consistency-check weights χ_1..χ_μ of every extension, from the sender's seed.

    Spec, "Random OT Extension", step 7: ``χ_1, ..., χ_μ <- PRG(s)`` with
    ``μ = rows / λ``. Returns shape ``(count, μ, 2)``: each χ as two 64-bit
    words, low word first.
    """
    mu = rows // LAMBDA
    h = hashlib.shake_128(_CHI_DST + seed + rows.to_bytes(4, "big") + count.to_bytes(4, "big"))
    data = h.digest(count * mu * LAMBDA_BYTES)
    return np.frombuffer(data, dtype=_U64LE).astype(np.uint64).reshape(count, mu, 2)


def transpose_columns(cols: U8Array) -> U8Array:
    """Column-major ``(count, 128, rows // 8)`` bits to row-major ``(count, rows, 16)``.

    Works on 8x8 bit blocks: bytes are regrouped so that each 64-bit word
    holds one block, the block is transposed in place with three
    delta-swaps (Hacker's Delight, section 7-3), and the bytes regrouped back.
    """
    count, ncols, width = cols.shape
    groups = ncols // 8
    blocks = np.ascontiguousarray(cols.reshape(count, groups, 8, width).transpose(0, 1, 3, 2))
    x = blocks.view(_U64LE)[..., 0].astype(np.uint64)
    for shift, mask in _DELTA_SWAPS:
        s, m = np.uint64(shift), np.uint64(mask)
        t = (x ^ (x >> s)) & m
        x = x ^ t ^ (t << s)
    out = x.astype(_U64LE).view(np.uint8).reshape(count, groups, width, 8)
    return np.ascontiguousarray(out.transpose(0, 2, 3, 1)).reshape(count, width * 8, groups)


def _product_tables(chi: U64Array) -> U64Array:
    """``table[k, i, v] = v * χ_{k,i}`` in GF(2)[X] for every byte ``v``: 135 bits in 3 words."""
    count, mu, _ = chi.shape
    table = np.zeros((count, mu, 256, 3), dtype=np.uint64)
    lo, hi = chi[..., 0], chi[..., 1]
    zero = np.zeros_like(lo)
    for p in range(8):
        if p == 0:
            shifted = np.stack([lo, hi, zero], axis=-1)
        else:
            left, right = np.uint64(p), np.uint64(64 - p)
            shifted = np.stack([lo << left, (hi << left) | (lo >> right), hi >> right], axis=-1)
        n = 1 << p
        table[:, :, n : 2 * n] = table[:, :, :n] ^ shifted[:, :, None, :]
    return table


def gf_reduce(products: U8Array) -> U8Array:
    """Reduce 255-bit polynomials (``(..., 32)`` bytes, LSB first) modulo X^128 + X^7 + X^2 + X + 1.

    Returns the ``(..., 16)`` field elements. With ``r = lo + hi·X^128`` and
    ``X^128 = X^7 + X^2 + X + 1``: ``r = lo + hi·(1 + X + X^2 + X^7)``; the
    product overflows by at most 6 bits (degrees 128-133), folded the same way.
    """
    shape = products.shape[:-1]
    words = np.ascontiguousarray(products).view(_U64LE).astype(np.uint64).reshape(-1, 4)
    lo0, lo1, hi0, hi1 = words[:, 0], words[:, 1], words[:, 2], words[:, 3]
    out0 = lo0 ^ hi0
    out1 = lo1 ^ hi1
    overflow = np.zeros_like(hi1)
    for s in (1, 2, 7):
        left, right = np.uint64(s), np.uint64(64 - s)
        out0 ^= hi0 << left
        out1 ^= (hi1 << left) | (hi0 >> right)
        overflow ^= hi1 >> right
    for s in (0, 1, 2, 7):
        out0 ^= overflow << np.uint64(s)
    out = np.stack([out0, out1], axis=-1).astype(_U64LE)
    return out.view(np.uint8).reshape(*shape, LAMBDA_BYTES)


def gf_inner_products(cols: U8Array, chi: U64Array) -> U8Array:
    """``Σ_i mul(Ĉ_ij, χ_i)`` for every column ``j`` of every extension, unreduced.

    Spec, "Random OT Extension", steps 6, 8 and 10: the bits of column ``j``
    are grouped into ``μ`` elements ``Ĉ_1j..Ĉ_μj`` of GF(2^128) (128 adjacent
    rows each), multiplied by the χ weights and summed. ``cols`` has shape
    ``(count, ncols, rows // 8)``, ``chi`` shape ``(count, μ, 2)``; the result
    has shape ``(count, ncols, 32)``, each a 255-bit polynomial, LSB first.

    Method: a 256-entry table of ``v * χ_i`` per block (four Russians), one
    lookup per byte of the matrix, the lookups of one byte position XORed
    across blocks, then each byte position shifted into place by its byte
    offset (a multiplication by ``X^(8o)`` is a move by ``o`` bytes).
    """
    count, ncols, width = cols.shape
    mu = width // LAMBDA_BYTES
    out = np.empty((count, ncols, PRODUCT_BYTES), dtype=np.uint8)
    for start in range(0, count, _CHECK_CHUNK):
        stop = min(start + _CHECK_CHUNK, count)
        n = stop - start
        table = _product_tables(chi[start:stop]).reshape(-1, 3)
        words = [np.ascontiguousarray(table[:, w]) for w in range(3)]
        # index of the table entry for byte o of block i of column j of extension k
        index = cols[start:stop].reshape(n, ncols, mu, LAMBDA_BYTES).transpose(0, 1, 3, 2)
        index = index.astype(np.intp)
        index += (np.arange(n * mu, dtype=np.intp).reshape(n, 1, 1, mu)) * 256
        summed = np.empty((n, ncols, LAMBDA_BYTES, 3), dtype=np.uint64)
        for w in range(3):
            summed[..., w] = np.bitwise_xor.reduce(words[w].take(index), axis=-1)
        pieces = summed.astype(_U64LE).view(np.uint8).reshape(n, ncols, LAMBDA_BYTES, 24)
        acc = np.zeros((n, ncols, LAMBDA_BYTES + 24), dtype=np.uint8)
        for o in range(LAMBDA_BYTES):
            acc[:, :, o : o + 24] ^= pieces[:, :, o]
        out[start:stop] = acc[:, :, :PRODUCT_BYTES]
    return out
