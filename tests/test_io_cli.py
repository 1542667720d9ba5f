"""``thioquant inspect`` on synthetic and real files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from thioquant.cli import main
from thioquant.cli.inspect import inspect
from thioquant.io.aia import write_aia
from thioquant.io.delimited import write_delimited
from thioquant.model import Channel, ReferencePeak, Trace


def _traces() -> list[Trace]:
    t = np.linspace(0, 15, 901)
    return [
        Trace(f"UV{w}", t, np.exp(-((t - 5) ** 2)), "mAU", Channel("uv", wavelength_nm=w))
        for w in (342, 303)
    ]


def test_inspect_table(tmp_path: Path) -> None:
    p = write_delimited(tmp_path / "inj.csv", _traces(), {"sample_id": "P-17"})
    res = CliRunner().invoke(inspect, [str(p)])
    assert res.exit_code == 0, res.output
    assert "2 trace(s)" in res.output
    assert "UV 342 nm" in res.output and "UV 303 nm" in res.output
    assert "901" in res.output and "15.0000" in res.output and "mAU" in res.output
    assert "sample_id: P-17" in res.output


def test_inspect_json_with_peaks(tmp_path: Path) -> None:
    pk = ReferencePeak(rt_min=5.0, area=10.5, height=1.0, area_unit="mAU*s", name="6-TG")
    p = write_aia(tmp_path / "inj.cdf", _traces()[0], {"sample_name": "S"}, [pk])
    res = CliRunner().invoke(inspect, [str(p), "--json"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.output)
    assert data["format"] == "aia"
    assert data["traces"][0]["points"] == 901
    assert data["traces"][0]["channel_fields"]["wavelength_nm"] == 342.0
    assert data["reference_peaks"][0]["area_unit"] == "mAU*s"
    assert data["reference_peaks"][0]["start_min"] is None  # NaN -> null in JSON
    table = CliRunner().invoke(inspect, [str(p)])
    assert "1 reference peak(s)" in table.output and "6-TG" in table.output


def test_inspect_bad_file_is_one_line_error(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    bad = tmp_path / "bad.cdf"
    bad.write_bytes(b"CDF\x01" + b"\x00" * 3)
    try:
        main(["inspect", str(bad)])
    except SystemExit as exc:
        assert exc.code == 2
    err = capsys.readouterr().err
    assert str(bad) in err and "Traceback" not in err


def test_inspect_real_dad_file(shared_data: Path) -> None:
    res = CliRunner().invoke(
        inspect,
        [str(shared_data / "agilent_chemstation/chromConverter/dad1.uv"), "-w", "342", "-w", "303"],
    )
    assert res.exit_code == 0, res.output
    assert "UV 342 nm bw 4" in res.output and "UV 303 nm bw 4" in res.output
    assert "method: ETHAN_PA_SHORT8_2_PREP_30UL.M" in res.output
