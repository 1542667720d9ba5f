"""Fuzz the text, AIA and mzML readers with mutated files: every input must give a Run or an
InputError, never another exception. Seeds are small synthetic files plus, when present,
the heads of real vendor files from ../shared/data."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thioquant.errors import InputError
from thioquant.io import read_run
from thioquant.io.aia import write_aia
from thioquant.io.delimited import write_delimited
from thioquant.model import Channel, ReferencePeak, Run, Trace

SHARED = Path(__file__).resolve().parents[2].parent / "shared" / "data"
TMP = Path(tempfile.mkdtemp(prefix="thioquant-fuzz-"))


def _trace(n: int = 60) -> Trace:
    t = np.linspace(0, 2, n)
    return Trace("UV342", t, np.exp(-((t - 1) ** 2) * 20), "mAU", Channel("uv", wavelength_nm=342))


def _seed_text() -> list[tuple[str, bytes]]:
    seeds = []
    p = write_delimited(TMP / "seed.csv", [_trace()], {"sample_id": "S1"})
    seeds.append((".csv", p.read_bytes()))
    seeds.append((".txt", b"time;UV 303 nm (mAU)\n0,0;1,5\n0,1;2,5\n0,2;3,5\n"))
    real = [
        ("chromeleon/smartPeakPy_HPLC_UV_Standards/chromatograms/0p5ug.txt", ".txt", 60),
        ("chromeleon/chromConverterExtraTests/chromeleon_comma.txt", ".txt", 60),
        ("shimadzu_labsolutions/Analysis_Lab_standards/STD_100.txt", ".txt", 140),
        ("waters_arw/chromConverterExtraTests/waters.arw", ".arw", 2),
        ("agilent_chemstation/chromConverter/dad1_chemstation_export_220nm.csv", ".csv", 40),
    ]
    for rel, ext, nlines in real:
        f = SHARED / rel
        if f.exists():
            raw = f.read_bytes()
            if raw.startswith(b"\xff\xfe"):
                text = raw.decode("utf-16")
                seeds.append((ext, "\n".join(text.splitlines()[:nlines]).encode("utf-16")))
            else:
                seeds.append((ext, b"\n".join(raw.splitlines()[: max(nlines, 2)])[:6000]))
    return seeds


def _seed_aia() -> list[bytes]:
    pk = ReferencePeak(rt_min=1.0, area=2.0, height=1.0, start_min=0.8, end_min=1.2, name="p")
    seeds = [write_aia(TMP / "seed.cdf", _trace(), {"sample_name": "S"}, [pk]).read_bytes()]
    f = SHARED / "andi_cdf/chromConverterExtraTests/VARIAN1.CDF"
    if f.exists():
        seeds.append(f.read_bytes())
    return seeds


def _seed_mzml() -> list[bytes]:
    from thioquant.io.mzml import write_mzml

    t = np.linspace(0, 2, 40)
    trs = [
        Trace(
            "6-TG", t, np.sin(t) + 2, "cps", Channel("srm", precursor_mz=168.0, product_mz=151.0)
        ),
        Trace("UV342", t, np.cos(t), "mAU", Channel("uv", wavelength_nm=342.0)),
    ]
    return [write_mzml(TMP / "seed.mzML", trs, {"sample_id": "S"}).read_bytes()]


TEXT_SEEDS = _seed_text()
AIA_SEEDS = _seed_aia()
MZML_SEEDS = _seed_mzml()


@st.composite
def mutated(draw: st.DrawFn, seeds: list[bytes]) -> bytes:
    data = bytearray(draw(st.sampled_from(seeds)))
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "set", "truncate", "insert", "delete", "dup"]))
        if not data:
            break
        i = draw(st.integers(0, len(data) - 1))
        if op == "flip":
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op == "set":
            data[i] = draw(
                st.sampled_from(
                    [
                        0,
                        0xFF,
                        0x7F,
                        0x80,
                        ord(","),
                        ord("\t"),
                        ord("\n"),
                        ord("."),
                        ord("-"),
                        ord("e"),
                        ord("n"),
                        ord("["),
                    ]
                )
            )
        elif op == "truncate":
            del data[i:]
        elif op == "insert":
            data[i:i] = draw(st.binary(min_size=1, max_size=16))
        elif op == "delete":
            del data[i : i + draw(st.integers(1, 64))]
        else:
            j = draw(st.integers(i, min(len(data), i + 200)))
            data[i:i] = data[i:j]
    return bytes(data)


def _check(path: Path) -> None:
    try:
        run = read_run(path)
    except InputError as exc:
        assert exc.path is not None
        return
    assert isinstance(run, Run) and run.traces
    for tr in run.traces:
        assert np.all(np.isfinite(tr.signal)) and np.all(np.diff(tr.time_min) > 0)


FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)


@FUZZ
@given(st.data())
def test_fuzz_text_readers(data: st.DataObject) -> None:
    ext, _ = data.draw(st.sampled_from(TEXT_SEEDS))
    raw = data.draw(mutated([b for e, b in TEXT_SEEDS if e == ext]))
    path = TMP / f"fuzz{ext}"
    path.write_bytes(raw)
    _check(path)


@FUZZ
@given(mutated(AIA_SEEDS))
def test_fuzz_aia_reader(raw: bytes) -> None:
    path = TMP / "fuzz.cdf"
    path.write_bytes(raw)
    _check(path)


@settings(max_examples=60, deadline=None, derandomize=True)
@given(mutated(MZML_SEEDS))
def test_fuzz_mzml_reader(raw: bytes) -> None:
    path = TMP / "fuzz.mzML"
    path.write_bytes(raw)
    _check(path)


@pytest.mark.parametrize("n", [0, 1, 4, 31, 100])
def test_aia_prefixes(n: int) -> None:
    path = TMP / "prefix.cdf"
    path.write_bytes(AIA_SEEDS[0][:n])
    _check(path) if n else pytest.raises(InputError, read_run, path)
