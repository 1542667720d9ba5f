"""``quantify --force`` replaces only an empty folder or an earlier thioquant output folder: any
other folder given as ``--out`` (someone's documents) is refused before any work, exit 5."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from thioquant.cli import main
from thioquant.errors import OutputError
from thioquant.report.output import ensure_free

FAST = ["--no-history", "--no-cache", "--quiet", "--no-pdf"]


@pytest.fixture
def batch(tmp_path, sample_batch) -> Path:
    return sample_batch(dst=tmp_path / "lc")


def _run(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code), capsys.readouterr().err


def test_force_refuses_a_folder_that_is_not_a_thioquant_output(batch, tmp_path, capsys):
    notout = tmp_path / "notout"
    notout.mkdir()
    (notout / "thesis.docx").write_bytes(b"four years of work")
    code, err = _run(["quantify", str(batch), "--out", str(notout), "--force", *FAST], capsys)
    assert code == 5, err
    assert f"{notout}: --force replaces only an earlier thioquant output folder" in err
    assert "has no audit.jsonl" in err
    assert (notout / "thesis.docx").read_bytes() == b"four years of work"


def test_force_refuses_a_foreign_audit_trail_or_a_file_added_to_an_output(batch, tmp_path, capsys):
    out = tmp_path / "out"
    main(["quantify", str(batch), "--out", str(out), *FAST])
    (out / "thesis.docx").write_bytes(b"mine")
    code, err = _run(["quantify", str(batch), "--out", str(out), "--force", *FAST], capsys)
    assert code == 5 and "holds files thioquant did not write there (thesis.docx)" in err, err
    assert (out / "thesis.docx").read_bytes() == b"mine"

    other = tmp_path / "other"
    other.mkdir()
    (other / "audit.jsonl").write_text(json.dumps({"event": "login", "user": "x"}) + "\n", encoding="utf-8")
    code, err = _run(["quantify", str(batch), "--out", str(other), "--force", *FAST], capsys)
    assert code == 5 and "its audit.jsonl does not start with a thioquant run" in err, err
    assert (other / "audit.jsonl").is_file()


def test_force_replaces_an_earlier_output_or_an_empty_folder(batch, tmp_path):
    out = tmp_path / "out"
    main(["quantify", str(batch), "--out", str(out), *FAST])
    main(["quantify", str(batch), "--out", str(out), "--force", "--no-history", "--no-cache", "--quiet"])
    assert (out / "patients").is_dir()  # an output with patient PDFs is recognised too
    main(["quantify", str(batch), "--out", str(out), "--force", *FAST])
    empty = tmp_path / "empty"
    empty.mkdir()
    main(["quantify", str(batch), "--out", str(empty), "--force", *FAST])
    assert (empty / "results.csv").is_file()


def test_library_output_without_audit_trail_is_replaceable_but_nothing_else(tmp_path):
    lib = tmp_path / "lib"
    lib.mkdir()
    for name in ("results.csv", "results.json", "results.xlsx", "calibration.json", "qc.csv", "messages.txt"):
        (lib / name).write_text("x", encoding="utf-8")
    ensure_free(lib, force=True)  # what write_outputs writes without an audit trail
    (lib / "sub").mkdir()
    with pytest.raises(OutputError, match="holds a folder thioquant does not write"):
        ensure_free(lib, force=True)
