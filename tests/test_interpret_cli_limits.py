"""``thioquant interpret`` refuses numbers that cannot be a measured result, and applies the
batch's RBC-count and dilution limits to concentrations (all of these were accepted, or crashed)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from thioquant.assay.method import Normalisation
from thioquant.cli import cli, main
from thioquant.errors import InputError

REPO = Path(__file__).resolve().parents[1]
CONC = ["--tgn-nmol-l", "1600", "--mmp-nmol-l", "30000"]


def _run(*args: str):
    return CliRunner().invoke(cli, ["interpret", *args])


def _refused(out, *needles: str) -> str:
    assert isinstance(out.exception, InputError), out.output
    text = str(out.exception)
    for n in needles:
        assert n in text, (n, text)
    return text


# --- zero, tiny, huge ---------------------------------------------------------------------------


def test_measured_zero_is_refused_nd_is_non_adherence():
    # 0 0 was "sub-therapeutic ... a dose increase may be considered" while nd nd is non-adherence
    _refused(_run("--tgn", "0", "--mmp", "0"), "--tgn", "use nd for not detected")
    _refused(_run("--tgn", "300", "--mmp", "0"), "--mmp", "use nd")
    _refused(_run("--tgn-nmol-l", "0", "--mmp", "nd", "--rbc", "4.5"), "use --tgn nd")
    out = _run("--tgn", "nd", "--mmp", "nd")
    assert out.exit_code == 0 and "(non_adherence)" in out.output


def test_exit_code_is_input_error():
    with pytest.raises(SystemExit) as exc:
        main(["interpret", "--tgn", "0", "--mmp", "0"])
    assert exc.value.code == 2


@pytest.mark.parametrize("tiny", ["0.0000001", "1e-300", "0.99"])
def test_value_below_plausible_minimum_is_refused(tiny):
    # 1e-7 gave ratio 10000000 and "preferential methylation"; 1e-300 crashed (exit 70)
    _refused(_run("--tgn", tiny, "--mmp", "5333"), "--tgn", "below 1", "use nd")


def test_plausible_minimum_itself_is_accepted():
    out = _run("--tgn", "1", "--mmp", "1", "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["tgn"] == 1.0


@pytest.mark.parametrize(("opt", "limit"), [("--tgn", "100000"), ("--mmp", "1000000")])
def test_value_above_plausibility_limit_is_refused(opt, limit):
    args = {"--tgn": "300", "--mmp": "3000"}
    args[opt] = "1e308"
    out = _run(*(x for kv in args.items() for x in kv))
    _refused(out, opt, f"plausibility limit {limit}", "unit")
    args[opt] = limit  # the limit itself is accepted
    out = _run(*(x for kv in args.items() for x in kv))
    assert out.exit_code == 0, out.output


# --- concentrations: the batch's RBC and dilution limits ------------------------------------------


def test_dilution_outside_method_default_range_is_refused():
    d = Normalisation()
    rng = f"{d.dilution_min:g}-{d.dilution_max:g}"
    # 1e6 gave 6-TGN 284444444 pmol/8x10^8 RBC
    _refused(_run(*CONC, "--rbc", "4.5", "--dilution", "1e6"), "--dilution", rng, "--method")
    _refused(_run(*CONC, "--rbc", "4.5", "--dilution", "0.1"), rng, "write 1:10 as 10")
    out = _run(*CONC, "--rbc", "4.5", "--dilution", "2", "--json")
    assert out.exit_code == 0 and round(json.loads(out.output)["tgn"]) == 569


def test_rbc_outside_method_default_range_is_refused():
    d = Normalisation()
    # 0.01-20 was accepted before; the batch flags a count outside 1-8 BAD_RBC
    _refused(_run(*CONC, "--rbc", "0.5"), "--rbc", f"{d.rbc_min:g}-{d.rbc_max:g}", "--method")
    _refused(_run(*CONC, "--rbc", "12"), f"{d.rbc_min:g}-{d.rbc_max:g}")


def test_method_file_widens_the_limits(tmp_path):
    text = (REPO / "calibrations" / "thiopurines_lcmsms.toml").read_text(encoding="utf-8")
    text = text.replace("rbc_min = 1.0", "rbc_min = 0.4\ndilution_max = 1000.0")
    method = tmp_path / "diluted.toml"
    method.write_text(text, encoding="utf-8")
    out = _run("--tgn-nmol-l", "100", "--mmp-nmol-l", "1000", "--rbc", "0.5", "--dilution", "200",
               "--method", str(method), "--json")
    assert out.exit_code == 0, out.output
    assert json.loads(out.output)["tgn"] == pytest.approx(100 * 200 * 0.8 / 0.5)
    # the method's own limits still apply, and the message names the method file
    _refused(_run(*CONC, "--rbc", "0.3", "--method", str(method)), "0.4-8", "diluted.toml")


def test_computed_value_gets_the_plausibility_limit():
    _refused(_run("--tgn-nmol-l", "1e12", "--mmp", "nd", "--rbc", "4.5"), "--tgn-nmol-l",
             "plausibility limit 100000")
    _refused(_run("--tgn-nmol-l", "nan", "--mmp", "nd", "--rbc", "4.5"), "non-negative")


@pytest.mark.parametrize("opt", ["--rbc-wb", "--hb-g-l", "--mcv-fl"])
def test_other_unit_inputs_must_be_positive_numbers(opt, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["interpret", "--tgn", "300", "--mmp", "3000", "--rbc-wb", "4.5", "--hb-g-l", "140",
              "--mcv-fl", "90", opt, "nan"])
    assert exc.value.code == 2 and f"{opt} must be a positive number, got nan" in capsys.readouterr().err
