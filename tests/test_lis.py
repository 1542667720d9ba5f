"""LIS export: HL7 v2.5.1 and FHIR R4 messages of both bundled batches, parsed back and validated
with kept libraries (hl7apy, fhir.resources), corrections, and what is never sent."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from thioquant.cli import cli
from thioquant.errors import InputError, OutputError
from thioquant.lis import export_lis

hl7apy = pytest.importorskip("hl7apy")
pytest.importorskip("fhir.resources")

from fhir.resources.R4B.bundle import Bundle  # noqa: E402  (R4B: R4's Observation/DiagnosticReport)
from hl7apy.consts import VALIDATION_LEVEL  # noqa: E402
from hl7apy.parser import parse_message  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
SENT = datetime(2026, 12, 4, 12, 0, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def outputs(tmp_path_factory):
    """Both bundled batches quantified (tables and results.json only)."""
    root = tmp_path_factory.mktemp("lis")
    outs = {}
    for name in ("lcmsms", "hplcuv"):
        b = root / name
        shutil.copytree(REPO / "sample_data" / name, b,
                        ignore=shutil.ignore_patterns("results", ".thioquant-cache.sqlite", "qc_history.sqlite"))
        r = CliRunner().invoke(cli, ["quantify", str(b), "--out", str(root / f"out_{name}"), "--no-report",
                                     "--no-history", "--quiet"])
        assert r.exit_code == 0, r.output
        outs[name] = root / f"out_{name}"
    return outs


def _hl7(path: Path):
    text = path.read_bytes().decode("utf-8")  # segments end in CR: no newline translation
    msg = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
    assert msg.validate()
    return msg


def _observations(msg):
    order = msg.oru_r01_patient_result.oru_r01_order_observation
    return order, list(order.oru_r01_observation)


#: results the bundled batches hold for review (none: docs/noise.md, "Dropouts over peaks")
HELD_BUNDLED: dict[str, set[str]] = {"lcmsms": set(), "hplcuv": set()}


@pytest.mark.parametrize("name", ["lcmsms", "hplcuv"])
def test_messages_of_the_bundled_batches_parse_and_validate(outputs, tmp_path, name):
    out = outputs[name]
    doc = json.loads((out / "results.json").read_text())
    s = export_lis(out, tmp_path / "ob", sent_at=SENT)
    patients = {r["sample_id"] for r in doc["results"] if r["sample_type"] == "unknown"}
    assert set(s.held) == HELD_BUNDLED[name]
    patients -= HELD_BUNDLED[name]
    assert len(s.written) == 2 * len(patients) == 48 - 2 * len(HELD_BUNDLED[name])
    reported = {(r["sample_id"], r["analyte"]): r for r in doc["results"] if r["sample_type"] == "unknown"}
    ranges = doc["reference_ranges"]
    n_values = 0
    for sid in sorted(patients):
        stem = f"{name}_{sid}_v1"
        msg = _hl7(tmp_path / "ob" / f"{stem}.hl7")
        assert msg.msh.msh_9.value == "ORU^R01^ORU_R01" and msg.msh.msh_12.value == "2.5.1"
        order, obs = _observations(msg)
        assert order.obr.obr_25.value == "F"
        pid = msg.oru_r01_patient_result.oru_r01_patient.pid
        assert pid.pid_3.cx_1.value == reported[(sid, "6-TG")]["patient_id"]
        bundle = Bundle.model_validate_json((tmp_path / "ob" / f"{stem}.fhir.json").read_text())
        resources = [e.resource for e in bundle.entry]
        report, fobs = resources[0], resources[1:]
        assert report.get_resource_type() == "DiagnosticReport" and report.status == "final"
        assert [o.get_resource_type() for o in fobs] == ["Observation", "Observation"]
        assert report.subject.identifier.value == reported[(sid, "6-TG")]["patient_id"]
        for analyte, o, f in zip(("6-TG", "6-MMP"), obs, fobs, strict=True):
            row = reported[(sid, analyte)]
            assert o.obx.obx_11.value == "F" and f.status == "final"
            assert o.obx.obx_6.ce_1.value == "pmol/(8.10*8{RBC})" and o.obx.obx_6.ce_3.value == "UCUM"
            if row["reported"] is not None:
                n_values += 1
                assert o.obx.obx_2.value == "NM"
                assert float(o.obx.obx_5.value) == pytest.approx(row["reported"], abs=0.05)
                assert float(f.valueQuantity.value) == pytest.approx(row["reported"], abs=1e-9)
                assert f.valueQuantity.system == "http://unitsofmeasure.org"
                assert f.valueQuantity.code == "pmol/(8.10*8{RBC})"
                if analyte == "6-TG":
                    expect = "L" if row["reported"] < ranges["tgn_low"] else (
                        "H" if row["reported"] > ranges["tgn_high"] else "N")
                    assert o.obx.obx_7.value == f"{ranges['tgn_low']:g}-{ranges['tgn_high']:g}"
                    assert float(f.referenceRange[0].low.value) == ranges["tgn_low"]
                else:
                    expect = "H" if row["reported"] > ranges["mmp_high"] else "N"
                    assert float(f.referenceRange[0].high.value) == ranges["mmp_high"]
                assert o.obx.obx_8.value == expect
                assert f.interpretation[0].coding[0].code == expect
            else:
                assert o.obx.obx_2.value == "ST" and f.valueQuantity is None
        comment = next(i["comment"] for i in doc["interpretation"] if i["sample_id"] == sid)
        nte = [n.nte_3.value for n in order.nte]
        assert nte and report.conclusion.startswith(comment[:40])
        assert any("decision support" in t for t in nte)
    assert n_values >= 40


def test_validator_catches_a_broken_message(outputs, tmp_path):
    """The validation used above can fail: an ORU^R01 without its OBR, a FHIR Observation without
    its code or with a value that is not a decimal."""
    export_lis(outputs["lcmsms"], tmp_path / "ob", sent_at=SENT)
    text = (tmp_path / "ob" / "lcmsms_P002_v1.hl7").read_bytes().decode()
    broken = "\r".join(s for s in text.split("\r") if not s.startswith("OBR"))
    try:
        ok = parse_message(broken, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True).validate()
    except Exception:  # hl7apy raises its own errors for a structure it cannot place
        ok = False
    assert not ok
    from pydantic import ValidationError

    doc = json.loads((tmp_path / "ob" / "lcmsms_P002_v1.fhir.json").read_text())
    del doc["entry"][1]["resource"]["code"]  # required (1..1) in Observation
    with pytest.raises(ValidationError):
        Bundle.model_validate(doc)
    doc = json.loads((tmp_path / "ob" / "lcmsms_P002_v1.fhir.json").read_text())
    doc["entry"][1]["resource"]["valueQuantity"]["value"] = "284 pmol"
    with pytest.raises(ValidationError):
        Bundle.model_validate(doc)


def test_resigned_version_goes_out_as_a_correction_and_nothing_is_overwritten(outputs, tmp_path):
    out, ob = outputs["lcmsms"], tmp_path / "ob"
    first = export_lis(out, ob, sent_at=SENT)
    v1 = (ob / "lcmsms_P002_v1.hl7").read_bytes()
    again = export_lis(out, ob, sent_at=SENT)
    assert not again.written and len(again.already) == 48 and not again.corrections
    second = export_lis(out, ob, version=2, sent_at=SENT)
    assert len(second.written) == 48 and len(second.corrections) == 24
    assert (ob / "lcmsms_P002_v1.hl7").read_bytes() == v1
    msg = _hl7(ob / "lcmsms_P002_v2.hl7")
    order, obs = _observations(msg)
    assert order.obr.obr_25.value == "C" and {o.obx.obx_11.value for o in obs} == {"C"}
    assert order.obr.obr_3.value == _observations(_hl7(ob / "lcmsms_P002_v1.hl7"))[0].obr.obr_3.value
    b1 = Bundle.model_validate_json((ob / "lcmsms_P002_v1.fhir.json").read_text())
    b2 = Bundle.model_validate_json((ob / "lcmsms_P002_v2.fhir.json").read_text())
    assert {e.resource.status for e in b2.entry} == {"corrected"}
    assert [e.resource.id for e in b1.entry] == [e.resource.id for e in b2.entry]  # the same resources, updated
    assert len(first.written) == 48
    assert not list(ob.glob(".*.tmp"))


def test_correction_known_from_the_patient_history(outputs, tmp_path):
    """A v2 sent to a fresh outbox is still a correction when the history recorded v1 as sent."""
    h = tmp_path / "h.sqlite"
    export_lis(outputs["lcmsms"], tmp_path / "a", formats=["fhir"], history=h, sent_at=SENT)
    s = export_lis(outputs["lcmsms"], tmp_path / "b", formats=["fhir"], version=2, history=h, sent_at=SENT)
    assert len(s.corrections) == 24


def test_rejected_or_held_results_are_never_sent(outputs, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(outputs["lcmsms"], out)
    doc = json.loads((out / "results.json").read_text())
    doc["verdict"]["accepted"] = False
    (out / "results.json").write_text(json.dumps(doc))
    with pytest.raises(InputError, match="rejected"):
        export_lis(out, tmp_path / "ob")
    assert not (tmp_path / "ob").exists()
    r = CliRunner().invoke(cli, ["export", str(out), "--hl7", "--to", str(tmp_path / "ob")])
    assert isinstance(r.exception, InputError)
    doc["verdict"]["accepted"] = True
    for row in doc["results"]:
        if row["sample_id"] == "P002":
            row["flags"] = [*row["flags"], "HELD:width"]
    (out / "results.json").write_text(json.dumps(doc))
    s = export_lis(out, tmp_path / "ob", sent_at=SENT)
    assert s.held == ("P002",) and not list((tmp_path / "ob").glob("*P002*"))
    assert len(s.written) == 46


def test_outbox_inside_the_output_folder_is_refused(outputs):
    with pytest.raises(OutputError, match="outbox"):
        export_lis(outputs["lcmsms"], outputs["lcmsms"] / "lis")


def test_cli_export_and_hl7_escaping(outputs, tmp_path):
    r = CliRunner().invoke(cli, ["export", str(outputs["hplcuv"]), "--hl7", "--fhir", "--to", str(tmp_path / "ob")])
    assert r.exit_code == 0 and "48 message(s) written" in r.output, r.output
    from thioquant.lis.hl7 import escape

    assert escape("a|b^c&d~e\\f\ng") == "a\\F\\b\\S\\c\\T\\d\\R\\e\\E\\f\\.br\\g"
    text = (tmp_path / "ob" / "hplcuv_P002_v1.hl7").read_text()
    assert "pmol/8x10\\S\\8 RBC" in text  # the unit text's ^ does not split the field
    msg = _hl7(tmp_path / "ob" / "hplcuv_P002_v1.hl7")
    assert msg.msh.msh_3.value == "THIOQUANT"


def test_pseudonymised_patient_is_sent_as_an_anonymous_identifier(tmp_path, sample_batch):
    b = sample_batch()
    r = CliRunner().invoke(cli, ["quantify", str(b), "--out", str(tmp_path / "o"), "--no-report", "--no-history",
                                 "--pseudonymise", "--pseudonym-key", "k" * 20, "--lis-outbox", str(tmp_path / "ob")])
    assert r.exit_code == 0, r.output
    files = sorted((tmp_path / "ob").glob("*.hl7"))
    assert len(files) == 24 and not any("PT10" in f.read_text() for f in files)
    pid = _hl7(files[0]).oru_r01_patient_result.oru_r01_patient.pid
    assert pid.pid_3.cx_1.value.startswith("PT-") and pid.pid_3.cx_5.value == "ANON"
    bundle = json.loads(files[0].with_name(files[0].name.replace(".hl7", ".fhir.json")).read_text())
    assert bundle["entry"][0]["resource"]["subject"]["identifier"]["system"] == "urn:thioquant:pseudonym"


def test_signed_version_from_the_review_app_is_recorded_and_sent_as_a_correction(tmp_path, sample_batch):
    """The review app's release hook (thioquant.lis.history.record_release) on a signed version
    folder OUT/versions/v2: the history and outbox of the run (from its audit trail), version 2,
    sent as a correction of the version 1 released when the run was accepted."""
    from thioquant.history import patient_series
    from thioquant.lis.history import record_release

    b = sample_batch()
    h, ob, out = tmp_path / "h.sqlite", tmp_path / "ob", tmp_path / "out"
    r = CliRunner().invoke(cli, ["quantify", str(b), "--out", str(out), "--no-report", "--no-history",
                                 "--patient-history", str(h), "--lis-outbox", str(ob)])
    assert r.exit_code == 0, r.output
    vdir = out / "versions" / "v2"
    vdir.mkdir(parents=True)
    for f in ("results.json", "audit.jsonl"):
        shutil.copy(out / f, vdir / f)
    (vdir / "version.json").write_text(json.dumps({"schema": "thioquant.version/1", "version": "v2"}))
    doc = json.loads((vdir / "results.json").read_text())
    row = next(x for x in doc["results"] if x["sample_id"] == "P002" and x["analyte"] == "6-TG")
    row["reported"] = 290.0  # a reviewer's manual integration changed it
    (vdir / "results.json").write_text(json.dumps(doc))
    done = record_release(vdir)
    assert len(done.history.recorded) == 24 and done.history.version == 2
    assert len(done.lis.written) == 48 and len(done.lis.corrections) == 24
    assert patient_series(h, "PT1002")[-1]["values"]["6-TGN"]["value"] == 290.0
    order, obs = _observations(_hl7(ob / "lcmsms_P002_v2.hl7"))
    assert order.obr.obr_25.value == "C" and obs[0].obx.obx_5.value == "290.0" and obs[0].obx.obx_11.value == "C"
    assert (ob / "lcmsms_P002_v1.hl7").is_file()


def test_release_on_authorisation_leaves_release_to_the_review_app(tmp_path, sample_batch):
    b = sample_batch()
    (b / "batch.toml").write_text('method = "thiopurines_lcmsms"\nrelease_on = "authorisation"\n'
                                  f'patient_history = "{(tmp_path / "h.sqlite").as_posix()}"\n')
    r = CliRunner().invoke(cli, ["quantify", str(b), "--out", str(tmp_path / "o"), "--no-report", "--no-history",
                                 "--lis-outbox", str(tmp_path / "ob")])
    assert r.exit_code == 0, r.output
    assert not (tmp_path / "h.sqlite").exists() and not (tmp_path / "ob").exists()


def test_a_duplicate_sample_id_is_neither_recorded_nor_sent(tmp_path, sample_batch):
    from thioquant.history import patient_series

    b = sample_batch()
    wl = b / "worklist.csv"
    wl.write_text(wl.read_text().replace("17,P003,", "17,P002,"))  # two rows named P002
    h = tmp_path / "h.sqlite"
    r = CliRunner().invoke(cli, ["quantify", str(b), "--out", str(tmp_path / "o"), "--no-report", "--no-history",
                                 "--patient-history", str(h), "--lis-outbox", str(tmp_path / "ob")])
    assert r.exit_code == 0, r.output
    assert "DUPLICATE_ID: whose result it is cannot be told, not recorded" in r.output
    assert patient_series(h, "PT1002") == [] and patient_series(h, "PT1003") == []
    assert len(patient_series(h, "PT1004")) == 1
    files = [p.name for p in (tmp_path / "ob").iterdir()]
    assert len(files) == 44 and not any("P002" in f for f in files)


def test_ucum_unit_parses_and_means_pmol_per_8e8_cells(outputs, tmp_path):
    """The unit code of every message is valid UCUM (kept parser: ucumvert) and is 1 pmol per
    8x10^8 cells; the parser refuses the display form, so the check can fail."""
    ucumvert = pytest.importorskip("ucumvert")
    parser, ureg = ucumvert.get_ucum_parser(), ucumvert.PintUcumRegistry()
    export_lis(outputs["lcmsms"], tmp_path / "ob", sent_at=SENT)
    codes = set()
    for f in (tmp_path / "ob").glob("*.fhir.json"):
        for e in json.loads(f.read_text())["entry"][1:]:
            if "valueQuantity" in e["resource"]:
                codes.add(e["resource"]["valueQuantity"]["code"])
    for f in (tmp_path / "ob").glob("*.hl7"):
        codes |= {seg.split("|")[6].split("^")[0] for seg in f.read_bytes().decode().split("\r")
                  if seg.startswith("OBX")}
    assert codes == {"pmol/(8.10*8{RBC})"}
    code = codes.pop()
    parser.parse(code)
    assert ureg.from_ucum(code).to("pmol").magnitude == pytest.approx(1 / 8e8)
    with pytest.raises(Exception):  # noqa: B017 - lark's own error for a unit that is not UCUM
        parser.parse("pmol/8x10^8 RBC")


def test_review_app_authorisation_releases_each_signed_version(tmp_path, sample_batch, monkeypatch):
    """End to end with the review app: quantify with release on authorisation (nothing released),
    sign and authorise (v1: recorded, sent as final), correct an integration and authorise again
    (v2: recorded, sent as a correction with the new value)."""
    pytest.importorskip("argon2")
    from argon2 import PasswordHasher

    from thioquant.history import patient_series
    from thioquant.review.session import ReviewSession
    from thioquant.review.users import UserStore

    b = sample_batch()
    h, ob = tmp_path / "h.sqlite", tmp_path / "ob"
    r = CliRunner().invoke(cli, ["quantify", str(b), "--no-history", "--quiet", "--no-pdf", "--patient-history",
                                 str(h), "--lis-outbox", str(ob), "--release-on", "authorisation"])
    assert r.exit_code == 0, r.output
    assert not h.exists() and not ob.exists()
    store = UserStore(tmp_path / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setenv("THIOQUANT_USERS", str(store.path))
    store.add("alice", "analyst", "alice-pass", "Alice")
    store.add("bob", "authoriser", "bob-pass-1", "Bob")
    from thioquant.locations import default_output_dir

    s = ReviewSession(default_output_dir(b), store)
    s.sign("alice", "alice-pass", "reviewed", rev=s.rev)
    assert s.sign("bob", "bob-pass-1", "authorised", rev=s.rev)["version"] == "v1"
    assert [p["version"] for p in patient_series(h, "PT1002")] == [1]
    order, _ = _observations(_hl7(ob / "lcmsms_P002_v1.hl7"))
    assert order.obr.obr_25.value == "F"
    # from the baseline before the peak (its apex is at 1.443 min): 13 % less area, not held
    s.integrate(store.get("alice"), "P002", "6-TG", 1.396, 1.62, "baseline drawn through noise or drift", rev=s.rev)
    s.sign("alice", "alice-pass", "reviewed", rev=s.rev)
    assert s.sign("bob", "bob-pass-1", "authorised", rev=s.rev)["version"] == "v2"
    v2 = patient_series(h, "PT1002")[-1]
    assert v2["version"] == 2
    order, obs = _observations(_hl7(ob / "lcmsms_P002_v2.hl7"))
    assert order.obr.obr_25.value == "C" and obs[0].obx.obx_11.value == "C"
    assert float(obs[0].obx.obx_5.value) == pytest.approx(v2["values"]["6-TGN"]["value"], abs=0.05)
    assert not [e for e in s.journal.entries if e["event"] == "release_hook_failed"]
