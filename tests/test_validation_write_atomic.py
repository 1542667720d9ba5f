"""validation.html and validation.xlsx are replaced together or not at all."""

from __future__ import annotations

import os
from pathlib import Path
from types import SimpleNamespace

import pytest

from thioquant.cli import main
from thioquant.errors import OutputError
from thioquant.validation import ValidationReport
from thioquant.validation import validate as vmod

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def fake_writers(monkeypatch: pytest.MonkeyPatch):
    """Stand-ins for the real writers (the atomicity does not depend on the report's content)."""
    import thioquant.validation.report as rep

    state = {"xlsx_error": None}

    def html(report: object, path: Path) -> Path:
        Path(path).write_text("new html", encoding="utf-8")
        return Path(path)

    def xlsx(report: object, path: Path) -> Path:
        if state["xlsx_error"]:
            raise state["xlsx_error"]
        Path(path).write_text("new xlsx", encoding="utf-8")
        return Path(path)

    monkeypatch.setattr(rep, "write_html", html)
    monkeypatch.setattr(rep, "write_xlsx", xlsx)
    return state


def _old(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "validation.html").write_text("old html", encoding="utf-8")
    (out / "validation.xlsx").write_text("old xlsx", encoding="utf-8")


def _write(out: Path) -> tuple[Path, Path]:
    return ValidationReport.write(SimpleNamespace(), out, force=True)  # type: ignore[arg-type]


def test_both_replaced_and_no_temporary_file_left(tmp_path: Path, fake_writers) -> None:
    _old(tmp_path)
    html, xlsx = _write(tmp_path)
    assert html.read_text(encoding="utf-8") == "new html" and xlsx.read_text(encoding="utf-8") == "new xlsx"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["validation.html", "validation.xlsx"]


def test_xlsx_that_is_a_directory_replaces_nothing(tmp_path: Path, fake_writers) -> None:
    (tmp_path / "validation.xlsx").mkdir()
    (tmp_path / "validation.html").write_text("old html", encoding="utf-8")
    with pytest.raises(OutputError, match="validation.xlsx: exists and is not a file"):
        _write(tmp_path)
    assert (tmp_path / "validation.html").read_text(encoding="utf-8") == "old html"


def test_failed_xlsx_write_replaces_nothing(tmp_path: Path, fake_writers) -> None:
    _old(tmp_path)
    fake_writers["xlsx_error"] = PermissionError(13, "Permission denied")
    with pytest.raises(OutputError, match=r"validation.xlsx: cannot be written: Permission denied") as exc:
        _write(tmp_path)
    assert exc.value.exit_code == 5
    assert (tmp_path / "validation.html").read_text(encoding="utf-8") == "old html"
    assert (tmp_path / "validation.xlsx").read_text(encoding="utf-8") == "old xlsx"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["validation.html", "validation.xlsx"]


def test_failed_rename_puts_the_old_reports_back(tmp_path: Path, fake_writers,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    _old(tmp_path)
    real = os.replace

    def replace(src: str | Path, dst: str | Path) -> None:
        if Path(dst).name == "validation.xlsx" and ".tmp" in Path(src).name and ".old" not in Path(src).name:
            raise OSError(28, "No space left on device")
        real(src, dst)

    monkeypatch.setattr(vmod.os, "replace", replace)
    with pytest.raises(OutputError, match="validation.xlsx: cannot be written: No space left"):
        _write(tmp_path)
    assert (tmp_path / "validation.html").read_text(encoding="utf-8") == "old html"
    assert (tmp_path / "validation.xlsx").read_text(encoding="utf-8") == "old xlsx"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["validation.html", "validation.xlsx"]


def test_cli_refuses_a_directory_target_before_validating(tmp_path: Path,
                                                          capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "o_w"
    (out / "validation.xlsx").mkdir(parents=True)
    (out / "validation.html").write_text("old html", encoding="utf-8")
    with pytest.raises(SystemExit) as exc:
        main(["validate", str(ROOT / "sample_data" / "validation_lcmsms"), "--out", str(out), "--force", "--quiet"])
    assert exc.value.code == 5
    assert "validation.xlsx: exists and is not a file" in capsys.readouterr().err
    assert (out / "validation.html").read_text(encoding="utf-8") == "old html"
