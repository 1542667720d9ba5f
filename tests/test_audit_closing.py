"""``audit verify``: a trail cut off at its end, an altered patient PDF, an extra file or a byte that
is not UTF-8 is BROKEN (exit 6), and an older trail is checked as far as it can be."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from thioquant.audit import chain, verify
from thioquant.cli import main

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> Path:
    """One quantified output folder (with patient PDFs), copied by each test before altering it."""
    root = tmp_path_factory.mktemp("audit")
    batch = root / "batch"
    shutil.copytree(REPO / "sample_data" / "lcmsms", batch,
                    ignore=shutil.ignore_patterns("results", ".thioquant-cache.sqlite", "qc_history.sqlite"))
    main(["quantify", str(batch), "--out", str(root / "out"), "--no-cache", "--no-history", "--quiet"])
    return root / "out"


@pytest.fixture
def out(written, tmp_path) -> Path:
    dst = tmp_path / "out"
    shutil.copytree(written, dst)
    return dst


def _verify_cli(folder: Path, capsys) -> tuple[int, str]:
    try:
        main(["audit", "verify", str(folder)])
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    cap = capsys.readouterr()
    return code, cap.out + cap.err


def _lines(folder: Path) -> list[str]:
    return (folder / "audit.jsonl").read_text(encoding="utf-8").splitlines(keepends=True)


def test_an_intact_trail_is_closed_and_covers_every_file(out, capsys):
    entries = [json.loads(line) for line in _lines(out)]
    end = entries[-1]
    assert end["event"] == "run_end" and end["entries"] == len(entries)
    recorded = {e["file"] for e in entries if e["event"] == "output"}
    assert {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()} == recorded | {"audit.jsonl"}
    assert any(name.startswith("patients/") for name in recorded)
    code, text = _verify_cli(out, capsys)
    assert code == 0 and "audit trail intact" in text, text


def test_a_trail_cut_off_after_the_verdict_is_broken(out, capsys):
    lines = _lines(out)
    verdict = next(i for i, line in enumerate(lines) if '"event": "verdict"' in line)
    (out / "audit.jsonl").write_text("".join(lines[: verdict + 1]), encoding="utf-8")
    for name in ("interpretation.csv", "results.csv"):  # the files are then edited at will
        with open(out / name, "a", encoding="utf-8") as fh:
            fh.write("edited\n")
    code, text = _verify_cli(out, capsys)
    assert code == 6, text
    assert f"no closing run_end entry: the trail was cut off after line {verdict + 1}" in text
    assert "results.csv is not recorded in the audit trail" in text


@pytest.mark.parametrize("drop", [1, 2])
def test_dropping_the_last_lines_is_broken(out, capsys, drop):
    (out / "audit.jsonl").write_text("".join(_lines(out)[:-drop]), encoding="utf-8")
    code, text = _verify_cli(out, capsys)
    assert code == 6 and "no closing run_end entry" in text, text


def test_lines_after_the_closing_entry_are_broken(out, capsys):
    lines = _lines(out)
    (out / "audit.jsonl").write_text("".join([*lines, lines[-1]]), encoding="utf-8")
    code, text = _verify_cli(out, capsys)
    assert code == 6 and f"line {len(lines)}: the closing run_end entry is followed by 1 more line(s)" in text


def test_a_patient_pdf_changed_deleted_or_a_file_added_is_broken(out, capsys):
    pdf = out / "patients" / "PT1002_P002.pdf"
    original = pdf.read_bytes()
    with open(pdf, "ab") as fh:
        fh.write(b"appended")
    code, text = _verify_cli(out, capsys)
    assert code == 6 and "output file patients/PT1002_P002.pdf was changed after the run" in text, text
    pdf.unlink()
    code, text = _verify_cli(out, capsys)
    assert code == 6 and "output file patients/PT1002_P002.pdf is missing" in text, text
    pdf.write_bytes(original)
    assert verify(out).ok
    (out / "patients" / "PT9999_P999.pdf").write_bytes(b"%PDF-1.4 forged")
    code, text = _verify_cli(out, capsys)
    assert code == 6 and "patients/PT9999_P999.pdf is not recorded in the audit trail (added after the run)" in text


def test_a_byte_that_is_not_utf8_is_broken_naming_its_line(out, capsys):
    n = len(_lines(out))
    with open(out / "audit.jsonl", "ab") as fh:
        fh.write(b"\xff\n")
    code, text = _verify_cli(out, capsys)
    assert code == 6, text
    assert f"line {n + 1}: not valid UTF-8 (byte 0xff at column 1)" in text


def test_a_line_that_is_json_but_not_an_object_is_broken(out, capsys):
    with open(out / "audit.jsonl", "a", encoding="utf-8") as fh:
        fh.write("5\n")
    code, text = _verify_cli(out, capsys)
    assert code == 6 and "not a valid JSON entry" in text, text


def _as_older_trail(folder: Path) -> None:
    """Rewrite the trail as thioquant wrote it before: top-level outputs only, run_end uncounted."""
    entries = []
    for line in _lines(folder):
        e = json.loads(line)
        for k in ("seq", "prev", "hash"):
            e.pop(k)
        if e["event"] == "output" and "/" in e["file"]:
            continue
        if e["event"] == "run_end":
            e = {"event": "run_end", "time": e["time"]}
        entries.append(e)
    (folder / "audit.jsonl").write_text(chain(entries), encoding="utf-8")


def test_an_older_trail_is_intact_but_says_what_it_cannot_verify(out, capsys):
    _as_older_trail(out)
    result = verify(out)
    assert result.ok and any("patients/PT1002_P002.pdf is not recorded by this older audit trail" in w
                             for w in result.warnings)
    code, text = _verify_cli(out, capsys)
    assert code == 0 and "file(s) not verified" in text
    # its run_end is still required: cutting it off is not accepted
    (out / "audit.jsonl").write_text("".join(_lines(out)[:-1]), encoding="utf-8")
    code, text = _verify_cli(out, capsys)
    assert code == 6 and "no closing run_end entry" in text


def test_a_desktops_metadata_files_are_not_tampering(tmp_path, sample_batch):
    # browsing the results in Finder or Explorer leaves .DS_Store / Thumbs.db: verify stays intact
    # and --force may still replace the folder
    from thioquant.audit import verify
    from thioquant.cli import main

    batch = sample_batch()
    out = tmp_path / "out"
    main(["quantify", str(batch), "--out", str(out), "--no-cache", "--no-history", "--quiet", "--no-pdf"])
    for name in (".DS_Store", "Thumbs.db", "._results.csv"):
        (out / name).write_bytes(b"\x00\x01")
    assert verify(out).ok
    main(["quantify", str(batch), "--out", str(out), "--force", "--no-cache", "--no-history", "--quiet",
          "--no-pdf"])
    assert verify(out).ok and not (out / ".DS_Store").exists()
