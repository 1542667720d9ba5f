"""Real files with vendor peak tables (read in place from ../shared/data)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from thioquant.io import read_run
from thioquant.peaks import find_peaks, integrate

STD = ["STD_6.25", "STD_12.5", "STD_25", "STD_50", "STD_100"]


def _resolved(refs):
    """Vendor peaks that share no boundary with a neighbour (and are BB when coded)."""
    refs = sorted(refs, key=lambda p: p.rt_min)
    for i, rp in enumerate(refs):
        shared = (i > 0 and abs(refs[i - 1].end_min - rp.start_min) < 1e-6) or (
            i + 1 < len(refs) and abs(refs[i + 1].start_min - rp.end_min) < 1e-6)
        if not shared and rp.code.strip().upper() in ("", "BB") and math.isfinite(rp.start_min):
            yield rp


def test_agilent_aia_vendor_table(shared_data):
    run = read_run(shared_data / "andi_cdf/cheminfo_netcdf-gcms/agilent-hplc.cdf")
    tr = run.traces[0]
    pks = find_peaks(tr)
    rts = np.array([p.rt_min for p in pks])
    for rp in run.reference_peaks:
        assert np.min(np.abs(rts - rp.rt_min)) <= 0.02, rp
    n = 0
    for rp in _resolved(run.reference_peaks):
        pk = integrate(tr, rp.start_min, rp.end_min)
        assert pk.area * 60.0 == pytest.approx(rp.area, rel=1e-3)  # mAU*min -> mAU*s
        assert pk.height == pytest.approx(rp.height, rel=0.01)
        n += 1
    assert n == 6


def test_shimadzu_standards_vendor_tables(shared_data):
    total = found = checked = 0
    for name in STD:
        run = read_run(shared_data / f"shimadzu_labsolutions/Analysis_Lab_standards/{name}.txt")
        for tr in run.traces:
            refs = [p for p in run.reference_peaks if p.trace == tr.name]
            if not refs:
                continue
            rts = np.array([p.rt_min for p in find_peaks(tr)])
            total += len(refs)
            found += sum(np.min(np.abs(rts - rp.rt_min)) <= 0.02 for rp in refs)
            assert tr.signal_unit == "mV" and refs[0].area_unit == "uV*s"
            for rp in _resolved(refs):
                pk = integrate(tr, rp.start_min, rp.end_min)
                assert pk.area * 60.0 * 1000.0 == pytest.approx(rp.area, rel=0.01), (name, rp)
                checked += 1
    assert found / total >= 0.95
    assert checked >= 35


SCIEX = "mzml_srm/smartPeakPy_QTRAP5500_BloodProject_QC"


def _sciex(shared_data):
    """Analyst's result rows, and the one SRM trace of the mzML with a "Q1 / Q3" mass (or None)."""
    import csv

    run = read_run(shared_data / SCIEX / "150601_0_BloodProject01_PLT_QC_Broth-1.mzML")
    by_mz: dict[tuple[float, float], list] = {}
    for t in run.traces:
        if t.channel.kind == "srm":
            by_mz.setdefault((round(t.channel.precursor_mz, 1), round(t.channel.product_mz, 1)), []).append(t)

    def one(mass: str):
        q1, q3 = (round(float(x), 1) for x in mass.split("/"))
        found = by_mz.get((q1, q3), [])
        return found[0] if len(found) == 1 else None

    with open(shared_data / SCIEX / "referenceData_1_sciex_vendor_results.csv", newline="") as fh:
        return list(csv.DictReader(fh)), one


def _sciex_rows(shared_data):
    """(Sciex row, the one SRM trace with its Q1/Q3) for every component with an area."""
    rows, one = _sciex(shared_data)
    for r in rows:
        tr = one(r["mass_info"])
        if tr is not None and r["area"] and float(r["area"]) > 0:
            yield r, tr


def test_sciex_mrm_areas_between_the_vendor_boundaries(shared_data):
    """QTRAP 5500 MRM (LC-MS/MS), Analyst's own results for the same injection: every peak it
    integrated with a baseline-to-baseline drop line ("Baseline", 97 of 166) is reproduced by
    ``integrate`` between its start and end times (area in counts x s), and the apex within
    0.05 min of its retention time. Its "Valley" and "Manual" peaks carry a baseline that the
    export does not give (benchmarks/README.md has the figures)."""
    n = 0
    for r, tr in _sciex_rows(shared_data):
        if r["integration_type"] != "Baseline":
            continue
        pk = integrate(tr, float(r["start_time"]), float(r["end_time"]), baseline="drop")
        assert pk.area * 60.0 == pytest.approx(float(r["area"]), rel=1e-6), r["component_name"]
        assert abs(pk.rt_min - float(r["retention_time"])) < 0.05, r["component_name"]
        n += 1
    assert n == 97


def _sciex_pairs(shared_data):
    """(Sciex row, analyte trace, internal-standard trace) for every light/heavy pair with areas."""
    rows, one = _sciex(shared_data)
    for r in rows:
        if r["is_"] == "TRUE" or not r["area_ratio"] or not r["is_mass"]:
            continue
        ta, ti = one(r["mass_info"]), one(r["is_mass"])
        if ta is not None and ti is not None and float(r["area"] or 0) > 0 and float(r["is_area"] or 0) > 0:
            yield r, ta, ti


def test_sciex_noisy_peak_top_is_one_peak(shared_data):
    """Urate's MRM peak (about 7 points across its half height, a 10 % dip on its top) was split
    at its apex into a "shoulder" and half a peak (-51 % against Analyst); the shoulder's
    curvature is now judged against the noise on the peak top, and the peak is whole."""
    from thioquant.peaks import find_target

    r, ta, _ = next(p for p in _sciex_pairs(shared_data) if p[0]["component_name"] == "urate.urate_1.Light")
    pk = find_target(ta, float(r["retention_time"]), 0.2)
    assert not {"SHOULDER", "FUSED"} & set(pk.flags)
    assert pk.start_min < 3.65 and pk.end_min > 3.85
    assert pk.area * 60.0 == pytest.approx(float(r["area"]), rel=0.10)  # Analyst's ends later on the tail


def test_sciex_is_ratios_from_own_integration(shared_data):
    """Analyte / labelled-IS area ratios, both peaks by find_target, against Analyst's ratios for
    the 80 pairs: 36 within 5 %; for the 34 pairs Analyst integrated baseline to baseline, 25
    within 5 %, median |difference| 2.79 % and p95 14.0 % (2026-12-05, branch `analyst`: the
    3-point boundary test under 4 points per half-height width and a region of at least two base
    widths each side; before 23, 2.52 / 17.1 %: the large
    differences fell, pep -17.5 -> -3.1 %, imp +17.2 -> +6.1 %, dtmp -12.0 -> -6.2 %, and two
    count-level pairs at S/N about 6 moved past the median, adpglc +2.6 -> +15.6 %, nadh +11.1 ->
    -13.1 %, within their counting uncertainty; earlier 2.52 %, the rough baseline's window spanning
    the whole peak; 2026-12-04, robust target width: 41, 23, 2.74 %; before that: 78 pairs
    found, 36 within 5 %, 33 Baseline pairs, 20 and 3.35 %). The five pairs lost from "within
    5 %" are Valley or Manual integrations in Analyst (not comparable from the export) whose
    analyte and IS errors used to cancel: each area came closer to Analyst's (dctp IS -14.5 ->
    -5.9 %, gdp analyte -23.6 -> -3.7 %), the ratio did not."""
    from thioquant.peaks import find_target

    diffs, base = [], []
    for r, ta, ti in _sciex_pairs(shared_data):
        pa = find_target(ta, float(r["retention_time"]), 0.2)
        pi = find_target(ti, float(r["is_retention_time"]), 0.2)
        if pa is None or pi is None:
            continue
        d = abs(100.0 * (pa.area / pi.area / float(r["area_ratio"]) - 1.0))
        diffs.append(d)
        if r["integration_type"] == r["is_integration_type"] == "Baseline":
            base.append(d)
    assert len(diffs) == 80 and len(base) == 34
    assert sum(d <= 5 for d in diffs) >= 36
    assert sum(d <= 5 for d in base) >= 25 and float(np.median(base)) < 2.9
    assert float(np.percentile(base, 95)) < 15.0


# --- noisy real MRM and LC-UV: robust width, window independence, transition groups --------------


def _analyst_components(shared_data):
    """(Analyst row, its trace, Analyst's area in counts x min, the trace finder) for every
    component of the QTRAP file with a trace and a positive area."""
    rows, one = _sciex(shared_data)
    for r in rows:
        tr = one(r["mass_info"])
        if tr is not None and r["area"] and float(r["area"]) > 0:
            yield r, tr, float(r["area"]) / 60.0, one


def _frag(pk, r_start, r_end, r_area, area=None):
    """Fragmented: bounds under 30 % of the reference width and an area under half its area."""
    a = pk.area if area is None else area
    return (pk.end_min - pk.start_min) < 0.3 * (r_end - r_start) and a < 0.5 * r_area


def test_sciex_no_fragmented_peak_and_closer_to_analyst(shared_data):
    """Every Analyst component of the QTRAP file by find_target (+/-0.2 min, own boundaries):
    no peak is cut to a sliver (2 before the robust width: datp, g6p), and on Analyst's 95
    Baseline peaks found (94 before) the median |area difference| is 1.54 % (1.89 %), the p95
    10.6 % (25.1 %; 11.7 % before sparse peaks' boundaries were judged on the 3-point mean and
    the region reached two base widths each side, branch `analyst`, which took pep, fdp, imp, dtmp and nadh IS closer to Analyst and moved two
    count-level peaks at S/N about 6 that matched Analyst to the point, adpglc and nadh, to +15.6
    and -7.7 %: the median went 1.44 -> 1.54 %, the transition groups' stayed 1.44 %)."""
    from thioquant.peaks import find_target

    frag, base = [], []
    for r, tr, a, _one in _analyst_components(shared_data):
        pk = find_target(tr, float(r["retention_time"]), 0.2)
        if pk is None:
            continue
        if _frag(pk, float(r["start_time"]), float(r["end_time"]), a):
            frag.append(r["component_name"])
        if r["integration_type"] == "Baseline":
            base.append(abs(100.0 * (pk.area - a) / a))
    assert frag == []
    assert len(base) == 95
    # p95 12.5 % before the rough baseline's window spanned the whole (tailing) peak
    assert float(np.median(base)) < 1.6 and float(np.percentile(base, 95)) < 11.0



def test_sciex_sparse_tails_are_not_cut_at_a_one_point_dip(shared_data):
    """Peaks with under 4 points per half-height width have no detection smoothing, and a single
    noisy point on the tail ended the integration (the drop line then anchored on the tail).
    Judged on the 3-point mean, as from 4 points on (docs/peaks.md, "Sparse peaks'
    boundaries and the analysed region"), and with the analysed region reaching two base widths each side of the maximum (so
    the rough baseline's level is baseline, not tail), these Analyst Baseline peaks come within
    the given % of Analyst's area; before (main 536dd89): pep -16.6, fdp IS -11.6, imp IS -19.8,
    dtmp -11.4, nadh IS -10.0, succ -7.6 % (now -2.0, -1.6, -10.3, -5.5, +6.2, -2.5 %)."""
    from thioquant.peaks import find_target

    want = {"pep.pep_1.Light": 4.0, "fdp.fdp_1.Heavy": 4.0, "imp.imp_1.Heavy": 12.0,
            "dtmp.dtmp_1.Light": 8.0, "nadh.nadh_1.Heavy": 8.0, "succ.succ_1.Light": 4.0}
    got = {}
    for r, tr, a, _one in _analyst_components(shared_data):
        if r["component_name"] in want:
            pk = find_target(tr, float(r["retention_time"]), 0.2)
            got[r["component_name"]] = 100.0 * (pk.area - a) / a
            assert r["integration_type"] == "Baseline"
    assert set(got) == set(want)
    assert all(abs(got[k]) < want[k] for k in want), got


def test_sciex_transition_groups_closer_to_analyst(shared_data):
    """Each Analyst component with its labelled IS integrated as a transition group (the
    pipeline's MRM default; benchmarks/real_mrm.py's "thioquant group" row): on Analyst's 95
    Baseline peaks the median |area difference| is 1.44 % and the p95 11.7 % (before: 1.54 % and
    15.4 %; 12.9 % once the rough baseline's window spanned the whole peak, so that tailing peaks
    kept their tails; 12.1 % once the group's anchors left out spikes; 1.44 / 11.7 % once the
    consensus covered the members' whole recordings). nadph (S/N 8, bounds from its clear IS):
    a count burst in the 3-point anchor stretch lifted the drop line, -61 %; now -18 %."""
    from thioquant.peaks import find_target, integrate_group

    frag, base = [], []
    for r, tr, a, one in _analyst_components(shared_data):
        rt = float(r["retention_time"])
        ist = one(r["is_mass"]) if r["is_mass"] else None
        if ist is None or not math.isfinite(float(r["is_retention_time"] or "nan")):
            pk = find_target(tr, rt, 0.2)
        else:
            pk = integrate_group([tr, ist], rt, 0.2).peaks[0]
        if pk is None:
            continue
        if _frag(pk, float(r["start_time"]), float(r["end_time"]), a):
            frag.append(r["component_name"])
        if r["integration_type"] == "Baseline":
            base.append(abs(100.0 * (pk.area - a) / a))
        if r["component_name"] == "nadph.nadph_1.Light":
            assert pk.integration == "group" and abs(pk.area - a) < 0.25 * a
        if r["component_name"] == "gln-L.gln-L_1.Light":
            # its IS's recording stops at 1.18 min, on the analyte's tail: the consensus on the
            # IS's axis alone ended there (EDGE, -4.3 %); Analyst ends at 1.366
            assert pk.integration == "group" and "EDGE" not in pk.flags and pk.end_min > 1.3
            assert abs(pk.area - a) < 0.03 * a
    assert frag == []
    assert len(base) == 95
    # 11.7 % before sparse peaks' boundaries were judged on the 3-point mean (branch `analyst`)
    assert float(np.median(base)) < 1.5 and float(np.percentile(base, 95)) < 11.0


def _yeast_glu(shared_data):
    run = read_run(shared_data / "mzml_srm/smartPeakPy_yeast_unknowns/170808_Jonathan_yeast_Sacc1_1x.mzML")
    return [next(t for t in run.traces if t.channel.kind == "srm" and round(t.channel.precursor_mz) == q1
                 and round(t.channel.product_mz) == q3) for q1, q3 in ((146, 128), (146, 102), (151, 133))]


def test_yeast_glu_noisy_peak_is_whole_at_every_window(shared_data):
    """glu-L_1.Light (point-to-point scatter ~10 % of the signal on its top): window 0.2 gave a
    FUSED sliver 2.517-2.574 min (area 1.44e5), window 0.1 2.165-3.252 (7.83e5). SmartPeak's
    bounds are 2.246-2.921. Now one peak, the same at every window."""
    from thioquant.peaks import find_target

    tr = _yeast_glu(shared_data)[0]
    pks = [find_target(tr, 2.534, w) for w in (0.05, 0.1, 0.15, 0.2, 0.3, 0.5)]
    assert all(p is not None and "FUSED" not in p.flags for p in pks)
    assert len({(p.start_min, p.end_min, p.area) for p in pks}) == 1
    p = pks[0]
    assert p.start_min < 2.25 and p.end_min > 2.92 and p.area > 7.0e5


def test_yeast_glu_group_shares_bounds_close_to_smartpeak(shared_data):
    """Quantifier, qualifier and 13C IS of glu-L over shared boundaries from their consensus:
    the bounds of each are the group's, its start within 0.1 min of SmartPeak's (2.246); the
    analyte / IS ratio within 5 % of the same ratio between SmartPeak's bounds."""
    from thioquant.peaks import integrate, integrate_group

    trs = _yeast_glu(shared_data)
    g = integrate_group(trs, 2.534, 0.2)
    assert all(g.shared)
    # the end lies on flat baseline past the tail (3.26 before the rough baseline's window
    # spanned the whole peak, 3.34 now; SmartPeak 2.921): the drop line is the same
    assert abs(g.start_min - 2.246) < 0.1 and 2.9 < g.end_min < 3.4
    ref = [integrate(t, 2.246333360672, 2.92083334922791).area for t in trs]
    assert g.peaks[0].area / g.peaks[2].area == pytest.approx(ref[0] / ref[2], rel=0.05)


def _lcsolution_comma(shared_data):
    """Detector A of the comma-separated LCsolution export (parsed here when read_run cannot)."""
    path = shared_data / "shimadzu_labsolutions/lcsolution_comma/Output-sample 0.txt"
    if not path.exists():
        pytest.skip("LCsolution comma export absent")
    try:
        return next(t for t in read_run(path).traces if "Detector A" in t.name)
    except Exception:  # noqa: BLE001 - the reader's business, not this test's
        from thioquant.model import Trace

        lines = path.read_text(encoding="latin-1").splitlines()
        i = lines.index("[LC Chromatogram(Detector A-Ch1)]")
        j = next(k for k in range(i, len(lines)) if lines[k].startswith("R.Time")) + 1
        t, y = [], []
        for ln in lines[j:]:
            if not ln.strip() or ln.startswith("["):
                break
            a, b = ln.split(",")[:2]
            t.append(float(a))
            y.append(float(b))
        return Trace("Detector A-Ch1", np.array(t), np.array(y))


def test_lcuv_peaks_do_not_depend_on_the_window(shared_data):
    """Shimadzu LC-UV: the small peak at 7.1 min was None at window 0.05; the one at 8.06 min
    gave 2.22e6 / 2.48e6 / 2.66e6 uV*s at windows 0.05 / 0.1 / 0.2; now 2.64e6 at every window
    (LCsolution: 2.84e6, with a baseline of its own)."""
    from thioquant.peaks import find_target

    tr = _lcsolution_comma(shared_data)
    for rt in (7.119, 8.084):
        pks = [find_target(tr, rt, w) for w in (0.05, 0.1, 0.15, 0.2, 0.3, 0.5)]
        assert all(p is not None for p in pks)
        assert len({(p.start_min, p.end_min, p.area) for p in pks}) == 1
    big = find_target(tr, 8.084, 0.2)
    to_uv = 1000.0 if getattr(tr, "signal_unit", "") == "mV" else 1.0  # read_run: mV
    assert big.area * 60.0 * to_uv == pytest.approx(2838883, rel=0.08)


@settings(max_examples=30, deadline=None)
@given(case=st.sampled_from([("glu", 2.534), ("qtrap g6p", 6.763), ("qtrap utp", 15.726),
                             ("lc-uv", 8.066), ("lc-uv", 7.093)]),
       frac=st.floats(-0.9, 0.9), half=st.floats(0.03, 0.3))
def test_window_independence_on_real_traces(shared_data, case, frac, half):
    """Any window that contains the target's apex (two samples inside) and no other apex: the
    same peak, boundaries and area."""
    from thioquant.peaks import find_target

    tr = _real_trace(shared_data, case[0])
    ref = find_target(tr, case[1], 0.05)
    dt = float(np.median(np.diff(tr.time_min)))
    others = [p.rt_min for p in find_peaks(tr) if abs(p.rt_min - ref.rt_min) > 0.5 * ref.width_50_min]
    rt = ref.rt_min - frac * max(0.0, half - 2 * dt)
    if any(rt - half <= o <= rt + half for o in others):
        return  # another apex in the window: not this property
    pk = find_target(tr, rt, half)
    assert (pk.start_min, pk.end_min) == (ref.start_min, ref.end_min)
    assert pk.area == pytest.approx(ref.area, rel=1e-9)


_REAL: dict = {}


def _real_trace(shared_data, name):
    if name not in _REAL:
        if name == "glu":
            _REAL[name] = _yeast_glu(shared_data)[0]
        elif name == "lc-uv":
            _REAL[name] = _lcsolution_comma(shared_data)
        else:
            rows, one = _sciex(shared_data)
            comp = {"qtrap g6p": "g6p.g6p_1.Light", "qtrap utp": "utp.utp_1.Light"}[name]
            _REAL[name] = one(next(r for r in rows if r["component_name"] == comp)["mass_info"])
    return _REAL[name]
