"""Real MRM against reference integrations: Analyst (QTRAP BloodProject) and SmartPeak (yeast Sacc1).

    uv run --group bench python benchmarks/real_mrm.py [--out FILE]

Two Sciex QTRAP 5500 injections from ../shared/data/mzml_srm (read in place, never copied):

* **BloodProject QC** against Analyst's result table for the same injection (loaded with
  ``real_peaks.sciex_rows``). Areas in Analyst's convention: baseline-subtracted (drop line),
  counts x s. Compared: thioquant ``find_target`` searched +/-0.2 min around Analyst's RT (own
  boundaries); thioquant's transition-group integration (``integrate_group``: the analyte and
  its labelled internal standard over shared boundaries, as the pipeline does); pyopenms
  ``PeakPickerChromatogram`` with SmartPeak's own PeakPickerMRM parameters for this data set
  (smartpeak_params_1.csv) and ``PeakIntegrator`` (trapezoid, base_to_base) between its bounds.
* **yeast Sacc1** against SmartPeak's featureXML (OpenMS MRMFeatureFinderScoring +
  MRMTransitionGroupPicker, consensus boundaries per transition group). SmartPeak's intensity
  is the sum of the raw points between its boundaries, with no background subtracted; every tool
  is therefore scored in that convention: the trapezoid of the raw signal (no baseline) between
  the tool's own boundaries, against the same between SmartPeak's. The question is then where
  each tool puts the boundaries.

Per tool: components found, median / p95 |area difference| (%), and **fragmented** peaks: bounds
under 30 % of the reference's width AND an area under half the reference's.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
import xml.etree.ElementTree as ET
from collections import defaultdict
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "src"))

from real_peaks import DATA, sciex_rows  # noqa: E402

from thioquant.io import read_run  # noqa: E402
from thioquant.peaks import find_target, integrate  # noqa: E402

YEAST = DATA / "mzml_srm" / "smartPeakPy_yeast_unknowns"
WINDOW = 0.2
# SmartPeak's PeakPickerMRM parameters for these QTRAP data (smartpeak_params_1.csv)
OMS_PICKER = {"sgolay_frame_length": 15, "sgolay_polynomial_order": 3, "gauss_width": 0.1,
              "use_gauss": "true", "peak_width": 0.1, "signal_to_noise": 0.01,
              "sn_win_len": 1000.0, "sn_bin_count": 30, "method": "corrected",
              "remove_overlapping_peaks": "false"}


def fragmented(start: float, end: float, area: float, r_start: float, r_end: float,
               r_area: float) -> bool:
    """Bounds under 30 % of the reference width and an area under half the reference's."""
    return (end - start) < 0.3 * (r_end - r_start) and area < 0.5 * r_area


# ---------------------------------------------------------------------------------------------
# pyopenms
# ---------------------------------------------------------------------------------------------


def oms_picker():
    import pyopenms as oms

    picker = oms.PeakPickerChromatogram()
    p = picker.getDefaults()
    for k, v in OMS_PICKER.items():
        p.setValue(k, v)
    picker.setParameters(p)
    integ = oms.PeakIntegrator()
    q = integ.getDefaults()
    q.setValue("integration_type", "trapezoid")
    q.setValue("baseline_type", "base_to_base")
    integ.setParameters(q)
    return picker, integ


def oms_pick(tr, rt: float, tools) -> tuple[float, float, float] | None:
    """(start, end, baseline-subtracted area in counts x min) of the picked peak nearest ``rt``
    within the window, or None."""
    import pyopenms as oms

    picker, integ = tools
    chrom = oms.MSChromatogram()
    chrom.set_peaks((np.array(tr.time_min, dtype=np.float64), np.array(tr.signal, dtype=np.float64)))
    picked = oms.MSChromatogram()
    picker.pickChromatogram(chrom, picked)
    arrays = {a.getName(): np.array(a.get_data()) for a in picked.getFloatDataArrays()}
    best = None
    for i, pk in enumerate(picked):
        d = abs(pk.getRT() - rt)
        if d <= WINDOW and (best is None or d < best[0]):
            best = (d, float(arrays["leftWidth"][i]), float(arrays["rightWidth"][i]))
    if best is None:
        return None
    _, left, right = best
    pa = integ.integratePeak(chrom, left, right)
    bg = integ.estimateBackground(chrom, left, right, pa.apex_pos)
    return left, right, float(pa.area - bg.area)


# ---------------------------------------------------------------------------------------------
# QTRAP BloodProject against Analyst
# ---------------------------------------------------------------------------------------------


def qtrap_cases() -> list[dict]:
    """Analyst components whose Q1/Q3 names one trace, with their IS trace when it has one."""
    loaded = sciex_rows()
    if loaded is None:
        return []
    rows, one_trace = loaded
    out = []
    for r in rows:
        tr = one_trace(r["mass_info"])
        if tr is None or not r["area"] or not float(r["area"]) > 0:
            continue
        ist = one_trace(r["is_mass"]) if r["is_mass"] else None
        out.append({"name": r["component_name"], "trace": tr, "kind": r["integration_type"],
                    "rt": float(r["retention_time"]), "start": float(r["start_time"]),
                    "end": float(r["end_time"]), "area": float(r["area"]) / 60.0,
                    "is_trace": ist, "is_rt": float(r["is_retention_time"] or "nan")})
    return out


def group_peak(case: dict, which: str):
    """The analyte's (``which="analyte"``) peak from the analyte + IS transition group."""
    from thioquant.peaks import integrate_group

    ist = case["is_trace"]
    if ist is None or not math.isfinite(case["is_rt"]):
        return find_target(case["trace"], case["rt"], WINDOW)
    grp = integrate_group([case["trace"], ist], case["rt"], WINDOW)
    return grp.peaks[0]


def score_qtrap(cases: list[dict]) -> dict:
    tools = oms_picker()
    res = defaultdict(lambda: defaultdict(list))
    cpu = defaultdict(float)
    for c in cases:
        tr = c["trace"]
        t0 = time.process_time()
        own = find_target(tr, c["rt"], WINDOW)
        cpu["thioquant"] += time.process_time() - t0
        t0 = time.process_time()
        grp = group_peak(c, "analyte") if c["is_trace"] is not None else own
        cpu["thioquant group"] += time.process_time() - t0
        t0 = time.process_time()
        om = oms_pick(tr, c["rt"], tools)
        cpu["pyopenms"] += time.process_time() - t0
        cands = {"thioquant": None if own is None else (own.start_min, own.end_min, own.area),
                 "thioquant group": None if grp is None else (grp.start_min, grp.end_min, grp.area),
                 "pyopenms": om}
        for tool, v in cands.items():
            d = res[tool]
            d["n"].append(1)
            if v is None:
                d["missed"].append(c["name"])
                continue
            s, e, a = v
            err = 100.0 * (a - c["area"]) / c["area"]
            d["all"].append(err)
            if c["kind"] == "Baseline":
                d["baseline"].append(err)
            if fragmented(s, e, a, c["start"], c["end"], c["area"]):
                d["frag"].append(f"{c['name']} {s:.3f}-{e:.3f} (ref {c['start']:.3f}-{c['end']:.3f})")
    for tool in res:
        res[tool]["cpu"] = cpu[tool]
    return res


# ---------------------------------------------------------------------------------------------
# yeast Sacc1 against SmartPeak
# ---------------------------------------------------------------------------------------------


def yeast_cases() -> list[dict]:
    """SmartPeak's features (one per transition) whose Q1/Q3 names one trace of the mzML."""
    mz = YEAST / "170808_Jonathan_yeast_Sacc1_1x.mzML"
    fx = YEAST / "smartpeak_results" / "170808_Jonathan_yeast_Sacc1_1x.featureXML"
    if not (mz.exists() and fx.exists()):
        return []
    run = read_run(mz)
    by_mz = defaultdict(list)
    for t in run.traces:
        if t.channel.kind == "srm":
            by_mz[(round(t.channel.precursor_mz, 1), round(t.channel.product_mz, 1))].append(t)
    q = {}
    with open(YEAST / "traML.csv", newline="") as fh:
        for r in csv.DictReader(fh):
            q[r["transition_name"]] = (round(float(r["PrecursorMz"]), 1),
                                       round(float(r["ProductMz"]), 1), r["transition_group_id"])
    out = []
    for feat in ET.parse(fx).getroot().iter("feature"):
        sub = feat.find("subordinate")
        if sub is None:
            continue
        up = {u.get("name"): u.get("value") for u in feat.findall("UserParam")}
        left, right = float(up["leftWidth"]), float(up["rightWidth"])
        members = []
        for f in sub.findall("feature"):
            sp = {u.get("name"): u.get("value") for u in f.findall("UserParam")}
            nid = sp.get("native_id", "")
            if nid not in q:
                continue
            trs = by_mz.get(q[nid][:2], [])
            if len(trs) != 1:
                continue
            rt = float(f.find("position").text)
            members.append({"name": nid, "trace": trs[0], "rt": rt, "start": left, "end": right,
                            "intensity": float(f.find("intensity").text), "group": q[nid][2]})
        for m in members:
            m["members"] = members
            ref = integrate(m["trace"], left, right, baseline="none").area
            if ref > 0:
                m["area"] = ref
                out.append(m)
    return out


def _raw_area(tr, s: float, e: float) -> float:
    return integrate(tr, s, e, baseline="none").area


def score_yeast(cases: list[dict]) -> dict:
    from thioquant.peaks import integrate_group

    tools = oms_picker()
    res = defaultdict(lambda: defaultdict(list))
    groups: dict[int, object] = {}
    for c in cases:
        tr = c["trace"]
        own = find_target(tr, c["rt"], WINDOW)
        key = id(c["members"])
        if key not in groups:
            trs = [m["trace"] for m in c["members"]]
            groups[key] = integrate_group(trs, c["members"][0]["rt"], WINDOW)
        gpk = groups[key].peaks[[m["name"] for m in c["members"]].index(c["name"])]
        om = oms_pick(tr, c["rt"], tools)
        cands = {"thioquant": None if own is None else (own.start_min, own.end_min),
                 "thioquant group": None if gpk is None else (gpk.start_min, gpk.end_min),
                 "pyopenms": None if om is None else om[:2]}
        for tool, v in cands.items():
            d = res[tool]
            d["n"].append(1)
            if v is None:
                d["missed"].append(c["name"])
                continue
            s, e = v
            a = _raw_area(tr, s, e)
            err = 100.0 * (a - c["area"]) / c["area"]
            d["all"].append(err)
            if fragmented(s, e, a, c["start"], c["end"], c["area"]):
                d["frag"].append(f"{c['name']} {s:.3f}-{e:.3f} (ref {c['start']:.3f}-{c['end']:.3f})")
    return res


def _q(v: list[float], p: float) -> str:
    return f"{np.percentile(np.abs(v), p):.2f}" if v else "-"


def table(res: dict, with_baseline: bool) -> list[str]:
    head = "| tool | components | found | median / p95 |area diff| %, all |"
    sep = "|---|---|---|---|"
    if with_baseline:
        head += " median / p95, Analyst Baseline peaks |"
        sep += "---|"
    head += " fragmented |"
    sep += "---|"
    out = [head, sep]
    for tool, d in res.items():
        row = (f"| {tool} | {len(d['n'])} | {len(d['all'])} | {_q(d['all'], 50)} / "
               f"{_q(d['all'], 95)} |")
        if with_baseline:
            row += f" {_q(d['baseline'], 50)} / {_q(d['baseline'], 95)} (n={len(d['baseline'])}) |"
        row += f" {len(d['frag'])} |"
        out.append(row)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(HERE / "results_real_mrm.md"))
    args = ap.parse_args(argv)
    import pyopenms

    lines = ["# Real MRM against reference integrations", "",
             f"`uv run --group bench python benchmarks/real_mrm.py` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
             f"pyopenms {pyopenms.__version__}). See the script's docstring for the conventions.", ""]
    qc = qtrap_cases()
    if qc:
        r = score_qtrap(qc)
        lines += ["## QTRAP BloodProject QC against Analyst (same injection)", ""]
        lines += table(r, True)
        lines += ["", "CPU s for the whole file: " + ", ".join(
            f"{k} {r[k]['cpu']:.2f}" for k in r), ""]
        for tool, d in r.items():
            if d["frag"]:
                lines.append(f"- fragmented, {tool}: " + "; ".join(d["frag"]))
        lines.append("")
    yc = yeast_cases()
    if yc:
        r = score_yeast(yc)
        lines += ["## yeast Sacc1 against SmartPeak (featureXML)", ""]
        lines += table(r, False)
        lines.append("")
        for tool, d in r.items():
            if d["frag"]:
                lines.append(f"- fragmented, {tool}: " + "; ".join(d["frag"][:40]))
        lines.append("")
    text = "\n".join(lines)
    print(text)
    Path(args.out).write_text(text + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
