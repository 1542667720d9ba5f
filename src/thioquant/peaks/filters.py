"""1-D filters with edge replication (``mode="nearest"``) in numpy.

For finite input they give the same numbers as ``scipy.ndimage.correlate1d``,
``minimum_filter1d`` and ``maximum_filter1d`` with ``mode="nearest"``, bit for bit (the sums are
taken in the same order; tests compare them), without importing ``scipy.ndimage``: that import costs about 0.3 s, which
every ``thioquant quantify`` paid before any peak was found.
"""

from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

_EPS = float(np.finfo(float).eps)
_BLOCK = 1 << 20  # elements of the terms array at most (8 MB)


def _padded(y: np.ndarray, left: int, right: int) -> np.ndarray:
    out = np.empty(y.size + left + right)
    out[left : left + y.size] = y
    out[:left] = y[0]
    out[left + y.size :] = y[-1]
    return out


@lru_cache(maxsize=256)
def _kind(w_bytes: bytes) -> int:
    """1 for an odd symmetric kernel, -1 for an odd antisymmetric one, 0 otherwise (as ndimage)."""
    w = np.frombuffer(w_bytes)
    m1 = w.size // 2
    if w.size % 2 == 0 or m1 == 0:
        return 0
    right, left = w[m1 + 1 :], w[m1 - 1 :: -1]
    if float(np.abs(right - left).max()) <= _EPS:
        return 1
    return -1 if float(np.abs(right + left).max()) <= _EPS else 0


class Kernel(NamedTuple):
    """A correlation kernel with what :func:`correlate_kernel` needs, prepared once."""

    w: np.ndarray
    kind: int  # as _kind
    centre: float  # the weight of the middle point (kind != 0) or of the last one (kind == 0)
    col: np.ndarray  # the other weights as a column, in the order their terms are summed
    pairs: tuple[float, ...]  # the weights of the mirrored pairs, outermost first (kind != 0)


@lru_cache(maxsize=256)
def _kernel_of(w_bytes: bytes) -> Kernel:
    w = np.frombuffer(w_bytes).copy()
    kind = _kind(w_bytes)
    k = w.size
    m1 = k // 2
    if kind:
        return Kernel(w, kind, float(w[m1]), np.ascontiguousarray(w[:m1, None]), tuple(w[:m1].tolist()))
    return Kernel(w, 0, float(w[k - 1]), np.ascontiguousarray(w[: k - 1, None]), ())


def kernel(weights: np.ndarray) -> Kernel:
    """The prepared :class:`Kernel` of ``weights`` (cached by value)."""
    return _kernel_of(np.ascontiguousarray(weights, dtype=float).tobytes())


def correlate_nearest(y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """``out[i] = sum_k weights[k] * y[i + k - len(weights) // 2]``, edges replicated.

    Odd symmetric and antisymmetric kernels (Savitzky-Golay smoothing and derivatives) add the
    mirrored pairs first and multiply once, outermost pair first, as scipy.ndimage does; other
    kernels sum from the left. Each term is a row of one array, summed row by row, so the
    additions happen in the order of ndimage's C loop.
    """
    return correlate_kernel(y, kernel(weights))


_FEW_PAIRS = 2  # up to this many mirrored pairs (windows 3 and 5), summed one array at a time


def correlate_kernel(y: np.ndarray, kern: Kernel) -> np.ndarray:
    """:func:`correlate_nearest` with a prepared :class:`Kernel` (the same numbers)."""
    y = np.asarray(y, dtype=float)
    w = kern.w
    n = y.size
    if n < 2:  # a single row would be summed pairwise by numpy; two equal points give the same
        return correlate_kernel(np.repeat(y, 2), kern)[:n] if n else np.empty(0)
    k = w.size
    m1 = k // 2
    xp = _padded(y, m1, k - m1 - 1)
    kind = kern.kind
    if kind and m1 <= _FEW_PAIRS:
        # the centre term, then each pair's term added in turn: the order of the row-by-row
        # sum below (and of ndimage), with fewer numpy calls for a short kernel
        acc = xp[m1 : m1 + n] * kern.centre
        pair = np.add if kind > 0 else np.subtract
        for j, wj in enumerate(kern.pairs):
            acc += pair(xp[j : j + n], xp[k - 1 - j : k - 1 - j + n]) * wj
        return acc
    nrows = m1 + 1 if kind else k
    step = max(1, _BLOCK // nrows)  # bounds the terms array for long traces and wide kernels
    if step >= n:
        return _correlate_block(xp, kern, n)
    bounds = [*range(0, n, step), n]
    if bounds[-1] - bounds[-2] == 1:  # no one-column block (see above)
        del bounds[-2]
    out = np.empty(n)
    for a, b in zip(bounds[:-1], bounds[1:], strict=True):
        out[a:b] = _correlate_block(xp[a : b + k - 1], kern, b - a)
    return out


def _correlate_block(xp: np.ndarray, kern: Kernel, n: int) -> np.ndarray:
    """n outputs from the padded input ``xp`` (n + len(w) - 1 points, contiguous)."""
    k = kern.w.size
    m1 = k // 2
    rows = np.ndarray((k, n), dtype=float, buffer=xp, strides=(8, 8))  # rows[j] = xp[j : j + n]
    if kern.kind:
        terms = np.empty((m1 + 1, n))
        np.multiply(rows[m1], kern.centre, out=terms[0])
        rest = terms[1:]
        (np.add if kern.kind > 0 else np.subtract)(rows[:m1], rows[: m1 : -1], out=rest)
        rest *= kern.col
    else:
        terms = np.empty((k, n))
        np.multiply(rows[k - 1], kern.centre, out=terms[0])
        np.multiply(rows[: k - 1], kern.col, out=terms[1:])
    return np.add.reduce(terms, axis=0)


def _min_or_max(y: np.ndarray, size: int, minimum: bool) -> np.ndarray:
    """Running minimum or maximum over ``size`` points (window ``[i - size//2, i + size - size//2 - 1]``).

    Extrema over doubling spans (a sparse table): log2(size) array operations, exact, since it
    only compares values.
    """
    y = np.asarray(y, dtype=float)
    n = y.size
    size = int(size)
    if n == 0:
        return np.empty(0)
    if size <= 1:
        return y.copy()
    left = size // 2
    cur = _padded(y, left, size - left - 1)  # window i is cur[i : i + size]
    pick = np.minimum if minimum else np.maximum
    span = 1
    while 2 * span <= size:
        cur = pick(cur[:-span], cur[span:])  # now cur[i] = extreme of the padded [i, i + 2 span)
        span *= 2
    return pick(cur[:n], cur[size - span : size - span + n])


def minimum_nearest(y: np.ndarray, size: int) -> np.ndarray:
    """Running minimum over ``size`` points, edges replicated (``minimum_filter1d``)."""
    return _min_or_max(y, size, True)


def maximum_nearest(y: np.ndarray, size: int) -> np.ndarray:
    """Running maximum over ``size`` points, edges replicated (``maximum_filter1d``)."""
    return _min_or_max(y, size, False)
