"""Text cells that a spreadsheet would run as a formula, neutralised (CSV/formula injection).

A sample id such as ``=HYPERLINK("http://...","P002")`` typed into a worklist reached results.csv
as is, and a spreadsheet opening the file runs it. Every text cell of thioquant's CSV outputs (and
each line of messages.txt) that starts with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return
gets a leading apostrophe (the OWASP advice: spreadsheets show the text, run nothing). A cell
that is a plain number (``-1.5``, ``+2``, ``-inf``) is left alone, so numbers stay numbers.
"""

from __future__ import annotations

#: first characters with which a spreadsheet starts a formula (tab and CR: some also strip them)
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(text: str) -> str:
    """``text`` with a leading apostrophe when a spreadsheet would read it as a formula."""
    if not text or not text.startswith(FORMULA_START):
        return text
    try:
        float(text)
    except ValueError:
        return "'" + text
    return text  # a number: -1.5 stays -1.5


__all__ = ["FORMULA_START", "safe_cell"]
