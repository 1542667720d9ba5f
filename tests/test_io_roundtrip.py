"""Property tests: every writer's output reads back to the same traces."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from thioquant.io import read_run
from thioquant.io.aia import write_aia
from thioquant.io.delimited import write_delimited
from thioquant.io.mzml import write_mzml
from thioquant.io.vendor_text import write_chromeleon, write_shimadzu
from thioquant.model import Channel, Trace

TMP = Path(tempfile.mkdtemp(prefix="thioquant-rt-"))
finite = st.floats(min_value=-1e12, max_value=1e12, allow_nan=False, allow_infinity=False)
channels = st.one_of(
    st.builds(lambda w: Channel("uv", wavelength_nm=float(w)), st.integers(190, 800)),
    st.builds(
        lambda w, b: Channel("uv", wavelength_nm=float(w), bandwidth_nm=float(b)),
        st.integers(190, 800),
        st.integers(1, 16),
    ),
    st.builds(
        lambda a, b: Channel("srm", precursor_mz=a, product_mz=b),
        st.floats(50, 1000).map(lambda x: round(x, 4)),
        st.floats(20, 1000).map(lambda x: round(x, 4)),
    ),
    st.just(Channel("detector")),
)


@st.composite
def traces(draw: st.DrawFn, n_traces: int = 1) -> list[Trace]:
    n = draw(st.integers(2, 150))
    start = draw(st.floats(0, 100))
    steps = draw(arrays(float, n - 1, elements=st.floats(1e-4, 1.0)))
    t = start + np.concatenate([[0.0], np.cumsum(steps)])
    if not np.all(np.diff(t) > 0):  # float rounding of tiny steps on a large start
        t = start + np.arange(n) * 0.01
    out = []
    for k in range(n_traces):
        y = draw(arrays(float, n, elements=finite))
        out.append(
            Trace(
                f"trace {k}",
                t,
                y,
                draw(st.sampled_from(["mAU", "AU", "counts", "mV", ""])),
                draw(channels),
            )
        )
    return out


PROPS = settings(max_examples=40, deadline=None, derandomize=True)


@PROPS
@given(traces(n_traces=3))
def test_delimited_round_trip(trs: list[Trace]) -> None:
    run = read_run(write_delimited(TMP / "rt.csv", trs, {"k": 1.5}))
    assert run.metadata["k"] == 1.5
    for got, want in zip(run.traces, trs, strict=True):
        assert (got.name, got.channel, got.signal_unit) == (
            want.name,
            want.channel,
            want.signal_unit,
        )
        np.testing.assert_array_equal(got.time_min, want.time_min)
        np.testing.assert_array_equal(got.signal, want.signal)


@PROPS
@given(traces(), st.booleans())
def test_chromeleon_round_trip(trs: list[Trace], decimal_comma: bool) -> None:
    tr = trs[0]
    run = read_run(
        write_chromeleon(TMP / "rt.txt", tr, {"Injection": "X"}, decimal_comma=decimal_comma)
    )
    got = run.traces[0]
    assert run.format == "chromeleon" and got.signal_unit == tr.signal_unit
    if tr.channel.kind == "uv":
        assert got.channel.wavelength_nm == tr.channel.wavelength_nm
    np.testing.assert_array_equal(got.time_min, tr.time_min)
    np.testing.assert_array_equal(got.signal, tr.signal)


@PROPS
@given(traces(n_traces=2))
def test_shimadzu_round_trip(trs: list[Trace]) -> None:
    trs = [
        Trace(f"Detector A-Ch{i + 1}", t.time_min, t.signal, t.signal_unit, t.channel)
        for i, t in enumerate(trs)
    ]
    run = read_run(write_shimadzu(TMP / "rt_shim.txt", trs, {"Sample Name": "S"}))
    assert run.format == "shimadzu" and run.metadata["Sample Name"] == "S"
    for got, want in zip(run.traces, trs, strict=True):
        assert got.name == want.name
        if want.channel.kind == "uv":
            assert got.channel.wavelength_nm == want.channel.wavelength_nm
        np.testing.assert_array_equal(got.time_min, want.time_min)
        np.testing.assert_array_equal(got.signal, want.signal)


@PROPS
@given(traces())
def test_aia_round_trip(trs: list[Trace]) -> None:
    tr = trs[0]
    got = read_run(write_aia(TMP / "rt.cdf", tr)).traces[0]
    assert (got.name, got.signal_unit) == (tr.name, tr.signal_unit)
    if tr.channel.kind != "srm":  # AIA has no field for m/z transitions
        assert got.channel == tr.channel
    np.testing.assert_allclose(got.time_min, tr.time_min, rtol=1e-15, atol=1e-13)
    np.testing.assert_array_equal(got.signal, tr.signal)


@settings(max_examples=15, deadline=None, derandomize=True)
@given(traces(n_traces=2))
def test_mzml_round_trip(trs: list[Trace]) -> None:
    run = read_run(write_mzml(TMP / "rt.mzML", trs))
    for got, want in zip(run.traces, trs, strict=True):
        assert (got.name, got.channel, got.signal_unit) == (
            want.name,
            want.channel,
            want.signal_unit,
        )
        np.testing.assert_allclose(got.time_min, want.time_min, rtol=1e-15, atol=1e-13)
        np.testing.assert_array_equal(got.signal, want.signal.astype(np.float32))


def test_mzml_with_wrapped_base64_reads_the_same() -> None:
    """Some writers wrap base64 at 76 columns; the arrays must come out identical."""
    import re

    src = Path(__file__).resolve().parents[1] / "sample_data" / "lcmsms" / "raw" / "003_CAL1.mzML"
    raw = src.read_bytes()

    def wrap(m: re.Match) -> bytes:
        b = m.group(1)
        return b"<binary>" + b"\n".join(b[i:i + 76] for i in range(0, len(b), 76)) + b"</binary>"

    wrapped = re.sub(rb"<binary>([^<]*)</binary>", wrap, raw)
    assert wrapped.count(b"\n") > raw.count(b"\n") + 100
    path = TMP / "wrapped.mzML"
    path.write_bytes(wrapped)
    a, b = read_run(src), read_run(path)
    assert [t.name for t in a.traces] == [t.name for t in b.traces]
    for x, y in zip(a.traces, b.traces, strict=True):
        assert np.array_equal(x.time_min, y.time_min) and np.array_equal(x.signal, y.signal)
