"""``thioquant interpret``: interpret one 6-TGN / 6-MMP pair from the command line."""

from __future__ import annotations

import json
import math
from typing import Any

import click

from thioquant.errors import InputError

_UNDETECTABLE = {"nd", "n.d.", "undetectable", "undetected", "not detected", "bld", "<lod", "<lloq", "<loq",
                 "< lod", "< lloq", "< loq"}


def _parse_level(value: str | None, option: str, role: str) -> tuple[float | None, bool, float | None]:
    """(value, detected, bound) from an option: a number, nd/undetectable/<LLOQ, or "<x".

    "nd", "undetectable", "<LLOQ" and the like are undetectable with no known bound (the
    ``--tgn-lloq`` / ``--mmp-lloq`` options give it). "<x" with a number is a result below x:
    undetectable *with the bound x*, which the interpretation uses (a bound above a cut-off leaves
    the pair unclassified; "<500" is not "undetectable" for a 6-TGN target of 235-450).
    A number must be a plausible measured result (``implausible_level``): 0, values below 1 and
    absurdly large values are refused rather than interpreted.
    """
    from thioquant.clinical import implausible_level

    if value is None:
        return None, True, None
    text = value.strip().lower()
    if text in _UNDETECTABLE:
        return None, False, None
    if text.startswith("<"):
        rest = text[1:].strip().lstrip("=").strip()
        try:
            bound = float(rest)
        except ValueError:
            return None, False, None  # "<LOQ", "<limit": below an unnamed limit
        if not math.isfinite(bound) or bound <= 0:
            raise InputError(f"{option} {value}: the bound must be a positive number", key=option)
        return None, False, bound
    try:
        x = float(text)
    except ValueError:
        raise InputError(
            f"{option} must be a number (pmol/8x10^8 RBC), 'nd' for undetectable or '<x' for a result "
            f"below x, got {value!r}",
            key=option,
        ) from None
    if not math.isfinite(x) or x < 0:
        raise InputError(f"{option} must be a non-negative number, got {value!r}", key=option)
    reason = implausible_level(x, role)
    if reason:
        raise InputError(f"{option} {value}: {reason}", key=option)
    return x, True, None


def _limits(method: str | None) -> tuple[tuple[float, float], tuple[float, float], str]:
    """Plausible RBC count and dilution ranges: the method's, or the method defaults.

    Returns ``((rbc_min, rbc_max), (dilution_min, dilution_max), source)``; ``source`` names
    where the limits come from, for error messages.
    """
    from thioquant.assay.method import Normalisation, find_method_file, load_method

    if method is None:
        # the batch's defaults, so a value refused in a worklist is refused here too
        norm, source = Normalisation(), "the method defaults; --method NAME|PATH applies a method's own"
    else:
        path = find_method_file(method)
        norm, source = load_method(path).normalisation, f"method file {path}"
    return (norm.rbc_min, norm.rbc_max), (norm.dilution_min, norm.dilution_max), source


def _from_concentration(name: str, conc: float, opts: dict[str, Any]) -> float:
    """pmol/8x10^8 RBC from ``--{name}-nmol-l``, ``--rbc`` and ``--dilution``, under the
    same plausibility rules as a worklist row (RBC count and dilution ranges of the method)."""
    from thioquant.assay import normalise as nz
    from thioquant.clinical import implausible_level

    option = f"--{name}-nmol-l"
    if not math.isfinite(conc) or conc < 0:
        raise InputError(f"{option} must be a non-negative number, got {conc:g}", key=option)
    if conc == 0:
        raise InputError(f"{option} 0 is not a quantified result; use --{name} nd for not detected",
                         key=option)
    (rlo, rhi), (dlo, dhi), source = _limits(opts["method"])
    reason = nz.validate_rbc(opts["rbc"], low=rlo, high=rhi)
    if reason:
        raise InputError(f"{option} needs a usable --rbc: {reason} (normalisation.rbc_min/rbc_max of "
                         f"{source})", key="rbc")
    dil = float(opts["dilution"])
    if not (math.isfinite(dil) and dlo <= dil <= dhi):
        raise InputError(f"--dilution {opts['dilution']:g} is outside the plausible range {dlo:g}-{dhi:g} "
                         f"(normalisation.dilution_min/dilution_max of {source})"
                         f"{'; write 1:10 as 10, not 0.1' if 0 < dil < dlo else ''}", key="dilution")
    value = float(nz.per_8e8_rbc(conc, opts["rbc"], dilution=dil))
    reason = implausible_level(value, name)
    if reason:
        raise InputError(f"{option} {conc:g} at RBC {opts['rbc']:g} x10^12/L, dilution {dil:g}: {reason}",
                         key=option)
    return value


def _other_units(value: float | None, rbc_wb: float | None, hb_g_l: float | None,
                 mcv_fl: float | None) -> dict[str, float]:
    from thioquant.assay import normalise as nz

    out: dict[str, float] = {}
    if value is None:
        return out
    if rbc_wb is not None and hb_g_l is not None:
        out["pmol/0.2 mL whole blood (Hb 120 g/L)"] = nz.to_pmol_per_02ml_wb_hb120(value, rbc_wb, hb_g_l)
        out["pmol/g Hb"] = nz.to_pmol_per_g_hb(value, hb_g_l=hb_g_l, rbc_1e12_per_l=rbc_wb)
        out["nmol/mmol Hb"] = nz.to_nmol_per_mmol_hb(value, hb_g_l=hb_g_l, rbc_1e12_per_l=rbc_wb)
    if mcv_fl is not None:
        out["umol/L packed RBC"] = nz.to_umol_l_packed_rbc(value, mcv_fl)
    return out


@click.command("interpret")
@click.option("--tgn", help="6-TGN, pmol/8x10^8 RBC ('nd' = undetectable).")
@click.option("--mmp", help="6-MMP, pmol/8x10^8 RBC ('nd' = undetectable).")
@click.option("--tgn-nmol-l", type=float, help="6-TG concentration in the suspension, nmol/L (needs --rbc).")
@click.option("--mmp-nmol-l", type=float, help="6-MMP concentration in the suspension, nmol/L (needs --rbc).")
@click.option("--rbc", "rbc", type=float, help="RBC count of the aliquoted suspension, 10^12/L.")
@click.option("--dilution", type=float, default=1.0, show_default=True,
              help="Total dilution factor (plausible range: the method's, default 1-100).")
@click.option("--method", "method",
              help="Method name or file whose normalisation.rbc_min/rbc_max and dilution_min/dilution_max "
                   "bound --rbc and --dilution (default: the method defaults, RBC 1-8 x10^12/L).")
@click.option("--profile", "profile", default="default", show_default=True, help="Profile name or TOML path.")
@click.option("--list-profiles", is_flag=True, help="List the shipped profiles and exit.")
@click.option("--method-family", type=click.Choice(["dervieux", "lennard", "lcmsms"]),
              help="Family of the assay that produced the results.")
@click.option("--drug", help="azathioprine, mercaptopurine or thioguanine.")
@click.option("--dose-mg", help="Daily dose, mg.")
@click.option("--weight-kg", help="Body weight, kg.")
@click.option("--tgn-lloq", type=float,
              help="6-TG LLOQ in pmol/8x10^8 RBC for this sample: bounds the MMP:TGN ratio when 6-TGN is nd.")
@click.option("--mmp-lloq", type=float, help="6-MMP LLOQ in pmol/8x10^8 RBC for this sample.")
@click.option("--tpmt", help="TPMT phenotype: normal, intermediate, possible_intermediate, poor, indeterminate.")
@click.option("--nudt15", help="NUDT15 phenotype: normal, intermediate, possible_intermediate, poor, indeterminate.")
@click.option("--tpmt-genotype", help="TPMT star diplotype, e.g. *1/*3A (mapped to a CPIC phenotype).")
@click.option("--nudt15-genotype", help="NUDT15 star diplotype, e.g. *1/*3.")
@click.option("--tpmt-activity", help="Red-cell TPMT activity in the profile's unit (default U/mL).")
@click.option("--indication",
              help="IBD, AIH, transplant, rheumatology, dermatology, malignancy (ALL...), other, or a synonym; "
                   "any other text is kept as a note and selects no advice.")
@click.option("--indication-note", help="Free-text clinical note (never selects advice).")
@click.option("--allopurinol", type=click.Choice(["yes", "no"]), help="Allopurinol co-therapy.")
@click.option("--wbc", help="White blood cells, 10^9/L.")
@click.option("--neutrophils", help="Neutrophils, 10^9/L.")
@click.option("--platelets", help="Platelets, 10^9/L.")
@click.option("--weeks-on-dose", help="Weeks since the start or the last dose change.")
@click.option("--alt-x-uln", help="ALT as a multiple of the upper limit of normal.")
@click.option("--ast-x-uln", help="AST as a multiple of the upper limit of normal.")
@click.option("--bilirubin-x-uln", help="Bilirubin as a multiple of the upper limit of normal.")
@click.option("--collected-at", help="Collection time, ISO 8601 (2026-03-01T08:30).")
@click.option("--received-at", help="Receipt time, ISO 8601.")
@click.option("--storage", type=click.Choice(["room_temperature", "refrigerated"]),
              help="Storage before receipt (default: not recorded, room temperature assumed).")
@click.option("--rbc-wb", type=float, help="Whole-blood RBC, 10^12/L (for other units).")
@click.option("--hb-g-l", type=float, help="Whole-blood haemoglobin, g/L (for other units).")
@click.option("--mcv-fl", type=float, help="MCV, fL (for umol/L packed RBC).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
def interpret(**opts: Any) -> None:
    """Interpret a pair of 6-TGN / 6-MMP results (pmol/8x10^8 RBC) as decision support.

    Example: thioquant interpret --tgn 284 --mmp 5333 --tpmt intermediate --weight-kg 70
    --dose-mg 100 --drug azathioprine
    """
    from thioquant import clinical as it

    if opts["list_profiles"]:
        for name in it.list_profiles():
            p = it.load_profile(name)
            click.echo(f"{name}: {p.cutoffs()}")
        return

    values: dict[str, tuple[float | None, bool, float | None]] = {}
    for name in ("tgn", "mmp"):
        raw, conc = opts[name], opts[f"{name}_nmol_l"]
        if raw is not None and conc is not None:
            raise InputError(f"give --{name} or --{name}-nmol-l, not both", key=name)
        if conc is not None:
            values[name] = (_from_concentration(name, conc, opts), True, None)
        elif raw is not None:
            values[name] = _parse_level(raw, f"--{name}", name)
        else:
            raise click.UsageError(f"--{name} (or --{name}-nmol-l with --rbc) is required")

    for name in ("tgn", "mmp"):
        lloq = opts[f"{name}_lloq"]
        if lloq is not None:
            if not (math.isfinite(lloq) and lloq > 0):
                raise InputError(f"--{name}-lloq must be a positive number, got {lloq!r}", key=f"{name}_lloq")
            v, det, bound = values[name]
            if not det and bound is None:
                values[name] = (v, det, lloq)
    row = {k: opts[k] for k in ("drug", "dose_mg", "weight_kg", "tpmt", "nudt15", "alt_x_uln",
                                "ast_x_uln", "bilirubin_x_uln", "collected_at", "received_at",
                                "storage", "indication", "indication_note", "tpmt_genotype",
                                "nudt15_genotype", "tpmt_activity", "allopurinol", "wbc", "neutrophils",
                                "platelets", "weeks_on_dose")}
    ctx = it.ClinicalContext.from_row(row) if any(v is not None for v in row.values()) else None
    profile = it.load_profile(opts["profile"])
    res = it.interpret(
        values["tgn"][0], values["mmp"][0], profile=profile, tgn_detected=values["tgn"][1],
        mmp_detected=values["mmp"][1], context=ctx, method_family=opts["method_family"],
        tgn_below=values["tgn"][2], mmp_below=values["mmp"][2],
    )
    for key in ("rbc_wb", "hb_g_l", "mcv_fl"):  # NaN passes a '> 0' test and printed "nan"
        v = opts[key]
        if v is not None and not (math.isfinite(v) and v > 0):
            raise InputError(f"--{key.replace('_', '-')} must be a positive number, got {v!r}")
    other = {
        n: _other_units(v, opts["rbc_wb"], opts["hb_g_l"], opts["mcv_fl"])
        for n, v in (("6-TGN", res.tgn), ("6-MMP", res.mmp))
    }
    other = {k: v for k, v in other.items() if v}
    if opts["as_json"]:
        d = res.as_dict()
        d["ratio_display"] = res.ratio_text()
        d["method_family_text"] = res.family_text
        d["profile_cutoffs"] = profile.cutoffs()
        d["profile_source"] = profile.source
        if other:
            d["other_units"] = other
        click.echo(json.dumps(d, indent=2, default=str))
        return
    click.echo(res.describe())
    click.echo(f"Cut-offs: {profile.cutoffs()}")
    if ctx is not None:
        click.echo(f"Monitoring: {profile.monitoring}")
    for analyte, units in other.items():
        for unit, v in units.items():
            click.echo(f"{analyte}: {v:.4g} {unit}")
