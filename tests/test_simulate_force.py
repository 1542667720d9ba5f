"""``simulate DIR --force`` replaces only a batch the simulator wrote: never a real batch folder
(every one has a batch.toml), nor a simulated one that now holds results or a QC history."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from thioquant.cli import main

REPO = Path(__file__).resolve().parents[1]
LEFT_BY_A_RUN = shutil.ignore_patterns("results", "qc_history.sqlite*", ".thioquant-cache.sqlite*",
                                       ".thioquant-simulated.json")


def _run(args: list[str], capsys) -> tuple[int, str]:
    with pytest.raises(SystemExit) as exc:
        main(args)
    return int(exc.value.code), capsys.readouterr().err


def _tree(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_force_never_deletes_a_real_batch(tmp_path, capsys):
    real = tmp_path / "real"
    # without what a user's run left in the checkout (README: quantify sample_data/lcmsms first)
    shutil.copytree(REPO / "sample_data" / "lcmsms", real, ignore=LEFT_BY_A_RUN)
    (real / "truth.csv").unlink()  # a real batch: raw data, worklist, batch.toml, results with an audit trail
    (real / "results").mkdir()
    (real / "results" / "audit.jsonl").write_text('{"event": "run_start"}\n', encoding="utf-8")
    before = _tree(real)
    code, err = _run(["simulate", str(real), "--force", "--patients", "1"], capsys)
    assert code == 5, err
    assert f"{real}: --force replaces only a batch the simulator wrote, and it has no truth.csv" in err
    (real / "truth.csv").write_text("sample_id,analyte\n", encoding="utf-8")  # even with a truth file
    before = _tree(real)
    code, err = _run(["simulate", str(real), "--force", "--patients", "1"], capsys)
    assert code == 5 and "it holds results/, which the simulator did not write" in err, err
    assert _tree(real) == before


def test_a_non_empty_folder_without_force_is_an_output_error_naming_force(tmp_path, capsys):
    (tmp_path / "x").mkdir()
    (tmp_path / "x" / "notes.txt").write_text("mine", encoding="utf-8")
    code, err = _run(["simulate", str(tmp_path / "x"), "--patients", "1"], capsys)
    assert code == 5, err
    assert "use --force" in err and "overwrite" not in err
    from thioquant.errors import OutputError
    from thioquant.simulate import simulate_batch

    (tmp_path / "f").write_text("a file", encoding="utf-8")  # (the CLI's argument check says so first)
    with pytest.raises(OutputError, match="exists and is not a folder"):
        simulate_batch(tmp_path / "f", n_patients=1)


def test_force_replaces_a_simulated_batch_but_not_one_with_results(tmp_path, capsys):
    sim = tmp_path / "sim"
    main(["simulate", str(sim), "--patients", "1"])
    assert (sim / ".thioquant-simulated.json").is_file()
    (sim / ".thioquant-cache.sqlite").write_bytes(b"")  # a measurement cache goes with it
    main(["simulate", str(sim), "--patients", "2", "--force"])
    assert not (sim / ".thioquant-cache.sqlite").exists()
    (sim / "results").mkdir()
    (sim / "results" / "audit.jsonl").write_text("{}\n", encoding="utf-8")
    code, err = _run(["simulate", str(sim), "--patients", "1", "--force"], capsys)
    assert code == 5 and "holds results/" in err, err
    assert (sim / "results" / "audit.jsonl").is_file()
    shutil.rmtree(sim / "results")
    (sim / "raw" / "extra.mzML").write_bytes(b"not the simulator's")
    code, err = _run(["simulate", str(sim), "--patients", "1", "--force"], capsys)
    assert code == 5 and "holds raw/extra.mzML" in err, err


def test_force_replaces_a_batch_simulated_before_the_marker(tmp_path):
    old = tmp_path / "bundled"  # the bundled sample data was simulated before the marker existed
    shutil.copytree(REPO / "sample_data" / "lcmsms", old, ignore=LEFT_BY_A_RUN)
    main(["simulate", str(old), "--patients", "1", "--force"])
    assert (old / ".thioquant-simulated.json").is_file()


def _left_by_an_earlier_version(sim: Path) -> None:
    """What quantifying ``sim`` with an earlier version's defaults left in it: ``results/``, the QC
    history and the measurement cache (today's quantify refuses to write there)."""
    out = sim.parent / f"{sim.name}-run" / "out"
    main(["quantify", str(sim), "--out", str(out), "--force", "--no-report", "--no-pdf", "--quiet"])
    shutil.copytree(out, sim / "results")
    for name in ("qc_history.sqlite", ".thioquant-cache.sqlite"):
        shutil.copy(out.parent / name, sim / name)


def test_force_replaces_a_simulated_batch_after_it_was_quantified(tmp_path, capsys):
    # the README's sequence: quantify the bundled batch, then regenerate it with simulate --force
    from thioquant.locations import default_output_dir

    sim = tmp_path / "sim"
    main(["simulate", str(sim), "--patients", "1"])
    main(["quantify", str(sim), "--quiet", "--no-pdf"])
    out = default_output_dir(sim)
    assert (out / "audit.jsonl").is_file() and (out.parent / "qc_history.sqlite").is_file()
    assert not (sim / "results").exists() and not (sim / "qc_history.sqlite").exists()  # nothing in the batch
    main(["simulate", str(sim), "--patients", "1", "--force"])
    assert (sim / "truth.csv").is_file() and (out / "audit.jsonl").is_file()  # outputs are not the batch's
    # what an earlier version's quantify left in the batch folder goes with it, a user's file never
    _left_by_an_earlier_version(sim)
    main(["simulate", str(sim), "--patients", "1", "--force"])
    assert not (sim / "results").exists() and (sim / "truth.csv").is_file()
    _left_by_an_earlier_version(sim)
    (sim / "results" / "thesis.docx").write_text("mine", encoding="utf-8")  # not thioquant's
    code, err = _run(["simulate", str(sim), "--patients", "1", "--force"], capsys)
    assert code == 5 and (sim / "results" / "thesis.docx").is_file(), err


def test_force_says_what_it_deletes(tmp_path, capsys):
    # was: results/, the QC history and the cache deleted without a word
    sim = tmp_path / "sim"
    main(["simulate", str(sim), "--patients", "1"])
    _left_by_an_earlier_version(sim)
    assert (sim / "results").is_dir() and (sim / "qc_history.sqlite").is_file()
    capsys.readouterr()
    main(["simulate", str(sim), "--patients", "1", "--force"])
    err = capsys.readouterr().err
    assert f"replacing the simulated batch {sim}: deleting the simulated raw files (" in err
    assert "results/ (a thioquant output folder, " in err
    assert "qc_history.sqlite (the QC history" in err and ".thioquant-cache.sqlite (the measurement cache)" in err
    assert not (sim / "results").exists()


def test_simulate_help_says_what_force_deletes():
    from click.testing import CliRunner

    from thioquant.cli import cli

    text = " ".join(CliRunner().invoke(cli, ["simulate", "--help"]).output.split())
    assert "never a real batch or one holding results" not in text  # was untrue: results/ went too
    assert "deleting with it what quantifying it left there" in text and "results/" in text
