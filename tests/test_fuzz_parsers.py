"""Hypothesis fuzzing of the worklist and method parsers: any input gives a result or a
ThioquantError subclass naming the file, never another exception."""

from __future__ import annotations

import tomllib

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thioquant.assay.method import load_method, parse_method
from thioquant.assay.worklist import read_worklist
from thioquant.errors import InputError, MethodError

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
cells = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=12)


@FUZZ
@given(rows=st.lists(st.lists(cells, min_size=0, max_size=9), min_size=0, max_size=6),
       header=st.lists(st.sampled_from(["sample_id", "file", "sample_type", "level", "rbc_count", "dilution",
                                        "patient_id", "x", ""]), max_size=8),
       sep=st.sampled_from([",", ";", "\t"]))
def test_worklist_parser_never_crashes(tmp_path, rows, header, sep):
    text = sep.join(header) + "\n" + "\n".join(sep.join(r) for r in rows)
    p = tmp_path / "worklist.csv"
    p.write_text(text, encoding="utf-8")
    try:
        wl = read_worklist(p, calibrator_levels={"CAL1"}, qc_levels={"QCL"})
    except InputError as exc:
        assert str(p) in str(exc)
        return
    for e in wl.entries:
        assert e.sample_type in ("blank", "zero", "calibrator", "qc", "unknown") or "BAD_TYPE" in e.flags
        assert e.dilution > 0


@FUZZ
@given(data=st.binary(max_size=300))
def test_worklist_parser_random_bytes(tmp_path, data):
    p = tmp_path / "worklist.csv"
    p.write_bytes(b"sample_id,file,sample_type\n" + data)
    try:
        read_worklist(p)
    except InputError as exc:
        assert str(p) in str(exc)


_scalars = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                     st.text(max_size=8))
_values = st.recursive(_scalars, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                         st.dictionaries(st.text(max_size=6), inner, max_size=3)),
                       max_leaves=8)


@FUZZ
@given(mutation=st.dictionaries(st.sampled_from(["method", "integration", "calibration", "normalisation",
                                                 "analytes", "internal_standards", "calibrators", "qcs", "qc"]),
                                _values, max_size=3))
def test_method_parser_never_crashes(repo_root, mutation):
    base = tomllib.loads((repo_root / "calibrations" / "thiopurines_lcmsms.toml").read_text())
    base.update(mutation)
    try:
        parse_method(base, source="fuzz.toml")
    except MethodError as exc:
        assert "fuzz.toml" in str(exc)


@FUZZ
@given(pos=st.integers(0, 10_000), junk=st.text(max_size=20))
def test_method_file_with_text_mutations(tmp_path, repo_root, pos, junk):
    text = (repo_root / "calibrations" / "thiopurines_lcmsms.toml").read_text()
    pos %= len(text)
    p = tmp_path / "m.toml"
    p.write_text(text[:pos] + junk + text[pos:], encoding="utf-8")
    try:
        load_method(p)
    except MethodError as exc:
        assert str(p) in str(exc)
