"""Agilent ChemStation ``Report.TXT``: the printed peak report of a ``.D`` folder (UTF-16).

One fixed-width table per signal (``Signal 2: FID2 B, Back Signal``) under a two-line header whose
second line gives the units in brackets (``[min]``, ``[pA*s]``, ``[25 µV*s]``, ``[mAU*s]``) and a
``----|-------|`` rule that marks the column boundaries. Units differ from signal to signal, and
the CSV report beside it (``Report00.CSV``) leaves the area unit empty when they do, so this is
where a ``.D`` folder's vendor peaks get their area unit.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path

from thioquant.errors import InputError
from thioquant.io._common import check_path, decode_text
from thioquant.model import ReferencePeak, Run

_SIGNAL = re.compile(r"^\s*Signal\s+(\d+)\s*:\s*(.+?)\s*$")


@dataclass
class SignalTable:
    """One signal's table of a ChemStation report."""

    number: int
    description: str
    #: column name -> unit as printed in brackets ("" when none), in table order
    units: dict[str, str] = field(default_factory=dict)
    rows: list[dict[str, str]] = field(default_factory=list)

    @property
    def area_unit(self) -> str:
        return self.units.get("Area", "")


def _spans(rule: str) -> list[tuple[int, int]]:
    """Column spans from a ``----|-------|----|`` rule line."""
    spans, start = [], 0
    for i, ch in enumerate(rule):
        if ch == "|":
            spans.append((start, i))
            start = i + 1
    if start < len(rule.rstrip()):
        spans.append((start, len(rule.rstrip())))
    spans[-1] = (spans[-1][0], 10_000)  # the last column (a name) runs to the end of the line
    return spans


def _cut(line: str, spans: list[tuple[int, int]]) -> list[str]:
    return [line[a:b].strip() for a, b in spans]


def parse_report(text: str) -> list[SignalTable]:
    """Every signal table of a ChemStation report's text."""
    lines = text.lstrip("\ufeff").splitlines()
    tables: list[SignalTable] = []
    current: SignalTable | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        m = _SIGNAL.match(line)
        if m:
            current = SignalTable(int(m.group(1)), m.group(2))
            tables.append(current)
        elif current is not None and line.startswith("----|") and i >= 2:
            spans = _spans(line)
            names = _cut(lines[i - 2], spans)
            unit_cells = _cut(lines[i - 1], spans)
            seen: dict[str, int] = {}
            cols = []
            for name, unit in zip(names, unit_cells, strict=True):
                u = unit.strip("[] ")
                key = {"Peak": "Peak #", "RetTime": "RetTime"}.get(name, name) or unit
                if key == "Area" and u == "%":
                    key = "Area %"
                if key in seen:  # "Area" twice: the second is the percentage
                    key = f"{key} %" if u == "%" else f"{key} {seen[key] + 1}"
                seen[key] = seen.get(key, 0) + 1
                cols.append(key)
                current.units[key] = "" if u == "%" and key.endswith("%") else (u if unit.startswith("[") else "")
            j = i + 1
            while j < len(lines) and lines[j].strip() and not lines[j].startswith("Totals"):
                cells = _cut(lines[j], spans)
                if cells and cells[0].isdigit():
                    current.rows.append(dict(zip(cols, cells, strict=True)))
                j += 1
            i = j
            continue
        i += 1
    return tables


def _float(text: str) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def report_peaks(tables: list[SignalTable], trace_of: dict[int, str] | None = None) -> list[ReferencePeak]:
    """The rows of the signal tables as reference peaks (trace: ``trace_of[number]`` or the
    signal's description)."""
    out = []
    for tb in tables:
        for r in tb.rows:
            out.append(ReferencePeak(
                rt_min=_float(r.get("RetTime", "")), area=_float(r.get("Area", "")),
                height=_float(r.get("Height", "")), name=r.get("Name", ""),
                trace=(trace_of or {}).get(tb.number, tb.description),
                area_unit=tb.area_unit, code=r.get("Type", "")))
    return out


def read_report_file(path: str | Path) -> list[SignalTable]:
    """Parse a ``Report.TXT`` (any encoding ChemStation writes: UTF-16 usually)."""
    p = check_path(path)
    return parse_report(decode_text(p.read_bytes(), p))


def read_chemstation_report(path: str | Path) -> Run:
    """A ``Report.TXT`` on its own (without its signal files): a Run without traces whose
    reference peaks are the report's tables, each with its area unit."""
    p = check_path(path)
    tables = read_report_file(p)
    if not any(tb.rows for tb in tables):
        raise InputError("ChemStation report without a peak table", path=p)
    return Run(traces=(), source=str(p), format="chemstation_report",
               metadata={"signals": {tb.number: tb.description for tb in tables},
                         "area_units": {tb.number: tb.area_unit for tb in tables}},
               reference_peaks=tuple(report_peaks(tables)))


__all__ = ["SignalTable", "parse_report", "read_chemstation_report", "read_report_file", "report_peaks"]
