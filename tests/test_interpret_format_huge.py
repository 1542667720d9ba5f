"""Printing a huge value or ratio never raises (decimal.InvalidOperation was exit 70)."""

from __future__ import annotations

from thioquant.assay import interpret as it


def test_huge_ratio_formats_without_crashing():
    # the library still interprets what it is given; printing must not raise InvalidOperation
    res = it.interpret(1e-300, 5333)
    assert res.category == "preferential_methylation"
    assert it.format_ratio(res.ratio, (11,)).startswith("5333")
    assert "ratio" in res.describe()
    assert it.format_near(1e308, (11,), 1, half_up=True).startswith("1")
