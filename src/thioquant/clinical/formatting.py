"""Number formatting that never contradicts a comparison with a cut-off.

Comparisons use the unrounded values (rounded to 6 decimals to absorb floating-point noise); a
value printed next to its cut-offs gets as many decimals as it needs to stay on the same side of
each cut-off: 234.96 prints as "234.96" (not "235") beside "below 235".
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Context, Decimal


def _cmp(x: float) -> float:
    """Value used in comparisons: rounded to 6 decimals to absorb floating-point noise
    (450.00000000001 from a computation is compared as 450)."""
    return round(float(x), 6)


#: Most decimals :func:`format_near` adds; comparisons (:func:`_cmp`) see no further than this.
_MAX_DECIMALS = 6
_WIDE = Context(prec=400)  # enough for any finite float's integer digits plus _MAX_DECIMALS


def _side(x: float, cutoff: float) -> int:
    """-1, 0 or 1: where ``x`` lies relative to ``cutoff``, as the comparisons see it."""
    a, c = _cmp(x), _cmp(cutoff)
    return (a > c) - (a < c)


def format_near(
    value: float, cutoffs: Iterable[float] = (), decimals: int = 0, *, half_up: bool = False
) -> str:
    """Format ``value`` so that the text never contradicts its comparison with a cut-off.

    Parameters
    ----------
    value : float
        The number to show.
    cutoffs : iterable of float
        Cut-offs the value is printed next to (or compared with in the same row).
    decimals : int
        Usual number of decimals. More (up to 6) are used only when the rounded text would land
        on or cross a cut-off that the value itself does not equal or cross.
    half_up : bool
        Round halves up (as :func:`format_ratio` always did) instead of Python's rounding of
        the binary value.

    Returns
    -------
    str
        For example ``format_near(234.96, [235])`` is "234.96", ``format_near(235.0, [235])``
        "235" and ``format_near(11.001, [11], 1, half_up=True)`` "11.001".
    """
    x = float(value)
    if not math.isfinite(x):
        return f"{x}"
    cuts = [float(c) for c in cutoffs]
    want = [_side(x, c) for c in cuts]
    text = ""
    for d in range(max(0, decimals), max(decimals, _MAX_DECIMALS) + 1):
        if half_up:
            q = Decimal(1).scaleb(-d)
            # the default 28-digit context cannot hold a huge value to d decimals (a ratio of
            # 5333 / 1e-300 raised InvalidOperation); a finite float has at most 309 digits
            text = f"{Decimal(repr(round(x, 9))).quantize(q, rounding=ROUND_HALF_UP, context=_WIDE)}"
        else:
            text = f"{x:.{d}f}"
        if [_side(float(text), c) for c in cuts] == want:
            break
    return text


def format_ratio(ratio: float | None, cutoffs: Iterable[float] = ()) -> str:
    """MMP:TGN ratio to one decimal, halves rounded up (30000/1600 = 18.75 -> "18.8").

    With ``cutoffs`` (the profile's ratio cut-off), more decimals are shown when one decimal
    would land on or cross a cut-off: 11.001 -> "11.001", 10.999 -> "10.999" next to 11.
    """
    if ratio is None or not math.isfinite(ratio):
        return ""
    return format_near(ratio, cutoffs, 1, half_up=True)



def _range(pair: Sequence[float], digits: int = 2) -> str:
    a, b = (round(x, digits) for x in pair)
    return f"{a:g}" if a == b else f"{a:g}-{b:g}"
