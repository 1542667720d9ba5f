"""``thioquant quantify``: a batch folder in, results and a summary out."""

from __future__ import annotations

import sys
from pathlib import Path

import click

#: the measurement cache's file name, in the output folder's parent (see --cache)
CACHE_NAME = ".thioquant-cache.sqlite"

#: what write_outputs imports after the measurements; ``quantify`` imports them while its worker
#: processes measure (``warm_imports``)
_WRITER_MODULES = ("openpyxl", "thioquant.report.xlsx", "thioquant.report.json_out", "thioquant.assay.interpret")
_REPORT_MODULES = ("thioquant.report.html", "thioquant.report.pdf", "thioquant.report.svg", "thioquant.report.chart",
                   "thioquant.report.chrom", "thioquant.report.content")


@click.command()
@click.argument("batch_dir", type=click.Path(file_okay=False, path_type=Path))
@click.option("--method", "method", default=None, help="Method file or name (default: batch.toml's).")
@click.option("--out", "out_dir", type=click.Path(path_type=Path), default=None,
              help="Output folder, outside the batch folder (default: thioquant-results/METHOD/BATCH "
                   "in the current folder, or under $THIOQUANT_RESULTS; see docs/report.md).")
@click.option("--force", is_flag=True, help="Replace an existing output folder.")
@click.option("--overrides", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Reviewer-decisions CSV: sample_id, analyte, start_min, end_min, reason, and an optional "
                   "action column (integrate, exclude_calibrator, include_calibrator; times empty for a "
                   "calibrator action). A signed version's overrides.csv reproduces it (docs/review.md).")
@click.option("--jobs", default=1, show_default=True, type=click.IntRange(1, 256),
              help="Worker processes for reading and integrating injections.")
@click.option("--executor", type=click.Choice(["process", "dask"]), default="process", show_default=True,
              help="Where injections are measured: a local process pool, or dask.distributed "
                   "(a local cluster of --jobs workers, or the cluster at --scheduler).")
@click.option("--scheduler", envvar="DASK_SCHEDULER_ADDRESS", default=None, metavar="ADDRESS",
              help="With --executor dask: a running dask scheduler (tcp://host:8786) whose workers measure "
                   "the injections (or the DASK_SCHEDULER_ADDRESS environment variable); see docs/scale.md.")
@click.option("--ship-files", is_flag=True,
              help="With --scheduler: send each raw file's bytes to the workers (no shared file system).")
@click.option("--cache/--no-cache", "use_cache", default=True, show_default=True,
              help="Reuse measurements of unchanged files (.thioquant-cache.sqlite beside the output folder, "
                   "in its parent).")
@click.option("--history", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="QC history (SQLite) for Westgard rules (default: qc_history.sqlite beside the output "
                   "folder, shared by every batch whose output folder is in the same parent).")
@click.option("--no-history", is_flag=True, help="Do not record or judge this run's QCs across runs.")
@click.option("--pseudonymise", is_flag=True, help="Replace patient identifiers by keyed hashes in every output.")
@click.option("--pseudonym-key", envvar="THIOQUANT_PSEUDONYM_KEY", default=None,
              help="Key for --pseudonymise (or the THIOQUANT_PSEUDONYM_KEY environment variable).")
@click.option("--report/--no-report", "report", default=True, show_default=True,
              help="Write report.html (and the PDFs) beside the tables.")
@click.option("--pdf/--no-pdf", "pdf", default=True, show_default=True,
              help="Write report.pdf and one PDF page per patient sample (patients/).")
@click.option("--profile", default=None,
              help="Interpretation profile name or TOML file for this run (default: the method's).")
@click.option("--max-rows", default=5000, show_default=True, type=click.IntRange(1, None),
              help="Refuse a worklist with more injection rows than this (a paste gone wrong, not a run).")
@click.option("--large", is_flag=True, help="Quantify a worklist of any length (lifts --max-rows).")
@click.option("--patient-history", "patient_history", type=click.Path(dir_okay=False, path_type=Path),
              default=None, help="Patient history (SQLite, one per lab): compare with earlier results (delta, "
              "trend, therapy phase) and record this run's results when it is accepted (default: batch.toml's "
              "patient_history).")
@click.option("--lis-outbox", "lis_outbox", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Write HL7/FHIR messages of an accepted run into this folder (default: batch.toml's lis_outbox).")
@click.option("--release-on", "release_on", type=click.Choice(["accept", "authorisation"]), default=None,
              help="When results are released into the patient history and the LIS: 'accept' (an accepted "
              "run, default) or 'authorisation' (the review app's signed versions; default: batch.toml's).")
@click.option("--strict", is_flag=True, help="Exit with code 1 when the run is rejected.")
@click.option("--quiet", is_flag=True, help="Print only the verdict line.")
def quantify(batch_dir: Path, method: str | None, out_dir: Path | None, force: bool, overrides: Path | None,
             jobs: int, executor: str, scheduler: str | None, ship_files: bool, use_cache: bool, history: Path | None, no_history: bool,
             pseudonymise: bool, pseudonym_key: str | None, report: bool, pdf: bool, profile: str | None,
             max_rows: int, large: bool, patient_history: Path | None, lis_outbox: Path | None,
             release_on: str | None, strict: bool, quiet: bool) -> None:
    """Quantify BATCH_DIR (worklist.csv + raw files) and write results to the output folder."""
    from thioquant.audit import _now
    from thioquant.errors import InputError, OutputError
    from thioquant.report.output import check_not_input, check_outside, check_writable, ensure_free

    started = _now()
    if executor != "dask":
        source = click.get_current_context().get_parameter_source("scheduler")
        if scheduler and source is click.core.ParameterSource.COMMANDLINE:
            raise click.UsageError("--scheduler needs --executor dask")
        if ship_files:
            raise click.UsageError("--ship-files needs --executor dask")
        scheduler = None  # DASK_SCHEDULER_ADDRESS set for other programs does not switch executors
    if not batch_dir.is_dir():  # before the output checks, which would create the output's parent
        raise InputError("batch folder not found", path=batch_dir)
    # by default under ./thioquant-results/<method>/, never into the batch folder (raw data often
    # sits on a read-only instrument share); the QC history and cache beside it then accumulate
    # across the method's batches (thioquant.locations)
    from thioquant.locations import default_output_dir

    out = out_dir or default_output_dir(batch_dir, method)
    if pseudonymise and not pseudonym_key:
        raise InputError("--pseudonymise needs --pseudonym-key or THIOQUANT_PSEUDONYM_KEY")
    # beside the output folder (in its parent), with --out as by default
    cache = out.parent / CACHE_NAME if use_cache else None
    qc_history = None if no_history else (history or out.parent / "qc_history.sqlite")
    from thioquant.history import batch_release_settings

    release = batch_release_settings(batch_dir)
    patient_history = patient_history or release.patient_history
    lis_outbox = lis_outbox or release.lis_outbox
    release_on = release_on or release.release_on
    # fail before the work, not after it: never an output folder that is or holds an input
    # (--force would delete it), nor one that exists (without --force) or cannot be created
    inputs = _inputs(batch_dir, method, overrides, qc_history, None if large else max_rows)
    destinations = [(p, what) for p, what in ((patient_history, "the patient history file"),
                                              (lis_outbox, "the LIS outbox")) if p is not None]
    check_not_input(out, inputs + destinations)
    # nor anything written inside an input folder: the batch folder, a folder of raw files
    written = [(out, "the output folder")] + [(p, what) for p, what in (
        (qc_history, "the QC history"), (cache, "the measurement cache")) if p is not None] + destinations
    check_outside(written, _input_folders(batch_dir, inputs),
                  hint="choose --out outside it" if out_dir else
                  "run thioquant from another folder, set THIOQUANT_RESULTS to a folder outside it, or give --out")
    if out_dir is None and force:  # the default folder is named after the batch folder alone
        from thioquant.locations import recorded_batch

        other = recorded_batch(out)
        if other is not None and other.resolve() != batch_dir.resolve():
            raise OutputError(f"holds the results of another batch folder of the same name ({other}); --force "
                              "replaces only this batch's own results: give --out", path=out)
    ensure_free(out, force=force)
    check_writable(out)
    notes: list[str] = []
    if qc_history is not None:  # a record: refused (exit 2) when unusable, before the work
        from thioquant.qc.westgard import check_history_file

        check_history_file(qc_history)
    if patient_history is not None:  # likewise: another database is refused, never changed
        from thioquant.history import check_history_file as check_patient_history

        check_patient_history(patient_history)
    if cache is not None:  # an accelerator: an unusable one is set aside, or the run goes without
        from thioquant.cache import check_cache

        notes = check_cache(cache)
        for note in notes:
            click.secho(f"warning: {note}", fg="yellow", err=True)

    from thioquant.audit import run_entries, write_audit
    from thioquant.pipeline import quantify as run_quantify
    from thioquant.qc.westgard import guarded_history
    from thioquant.report.progress import batch_progress
    from thioquant.report.summary import summary_text
    from thioquant.report.writer import write_outputs

    # the run's key in the QC history is the folder name and a hash of the raw data (batches named
    # alike never collide), known once measured: the guard notes the run's rows then, so that a
    # failed run takes out its own rows only (the history is shared by the method's batches,
    # perhaps by runs at once), and takes over its rows of the previous keying when the output
    # folder replaced here proves them to be this batch's
    with guarded_history(qc_history, out) as guard:  # in the QC history only once written
        with batch_progress(enabled=sys.stdout.isatty() and not quiet) as progress:
            batch = run_quantify(batch_dir, method, overrides=overrides, jobs=jobs, executor=executor,
                                 scheduler=scheduler, ship_files=ship_files,
                                 cache=cache, history=qc_history, history_hook=guard, progress=progress,
                                 profile=profile,
                                 keep_views=report, max_rows=None if large else max_rows,
                                 pseudonym_key=pseudonym_key if pseudonymise else None,
                                 warm_imports=_WRITER_MODULES + (_REPORT_MODULES if report else ()))
        if notes:  # into messages.txt and the audit trail too
            from dataclasses import replace

            batch = replace(batch, messages=(*notes, *batch.messages))
        if pseudonymise:
            from thioquant.privacy import pseudonymise as pseudo

            batch = pseudo(batch, pseudonym_key or "")
        if patient_history is not None:  # after pseudonymising: the keyed pseudonym is the key
            from thioquant.history import annotate

            batch = annotate(batch, patient_history)
        parameters = {
            "method": method, "out": str(out), "force": force,
            "overrides": str(overrides) if overrides else None, "jobs": jobs, "executor": executor,
            "scheduler": scheduler, "ship_files": ship_files,
            "cache": str(cache) if cache else None, "history": str(qc_history) if qc_history else None,
            "qc_run_id": batch.qc_run_id or None,
            "pseudonymise": pseudonymise, "profile": profile, "max_rows": None if large else max_rows,
            "patient_history": str(patient_history) if patient_history else None,
            "lis_outbox": str(lis_outbox) if lis_outbox else None,
            "lis_formats": list(release.lis_formats), "release_on": release_on,
            # the folder the relative paths above were typed in: the review finds the batch from it
            "cwd": str(Path.cwd()),
        }
        entries = run_entries(batch, parameters, started)
        write_outputs(batch, out, force=force, finalise=lambda stage: write_audit(stage, entries),
                      report=report, pdf=pdf, history=qc_history)
    click.echo(summary_text(batch, out, quiet=quiet, color=sys.stdout.isatty(), pseudonymised=pseudonymise))
    if release_on == "accept":  # else the review app releases each authorised version
        _release(batch, out, patient_history, lis_outbox, release.lis_formats, quiet=quiet)
    if strict and not batch.accepted:  # outside the block: a written run stays in the history
        sys.exit(1)


def _release(batch: object, out: Path, patient_history: Path | None, lis_outbox: Path | None,
             formats: tuple[str, ...], *, quiet: bool) -> None:
    """An accepted run's results are released: into the patient history and the LIS outbox.

    (With the review workflow, release is the authorisation: the review app calls
    ``thioquant.history.record_release`` and ``thioquant.lis.export_lis`` itself.) A rejected
    run writes into neither.
    """
    if not getattr(batch, "accepted", False) or (patient_history is None and lis_outbox is None):
        return
    if patient_history is not None:
        from thioquant.history import record_release

        s = record_release(out, patient_history)
        if not quiet:
            click.echo(f"Patient history: {len(s.recorded)} sample(s) recorded in {patient_history}"
                       + (f", {len(s.unchanged)} already there" if s.unchanged else ""))
        for m in s.messages:
            click.secho(f"warning: {m}", fg="yellow", err=True)
    if lis_outbox is not None:
        from thioquant.lis.export import export_lis

        e = export_lis(out, lis_outbox, formats=formats, history=patient_history)
        if not quiet:
            click.echo(f"LIS: {len(e.written)} message(s) written to {lis_outbox}"
                       + (f" ({len(e.corrections)} sample(s) as corrections)" if e.corrections else ""))
        for m in e.messages:
            click.secho(f"warning: {m}", fg="yellow", err=True)


def _inputs(batch_dir: Path, method: str | None, overrides: Path | None,
            history: Path | None, max_rows: int | None = None) -> list[tuple[Path, str]]:
    """Every input of the run that an output folder must not be, nor contain."""
    from thioquant.assay.worklist import read_worklist
    from thioquant.errors import ThioquantError

    found = [(batch_dir, "the batch folder"), (batch_dir / "worklist.csv", "the worklist"),
             (batch_dir / "batch.toml", "the batch's batch.toml")]
    if method and Path(method).exists():
        found.append((Path(method), "the method file"))
    if overrides is not None:
        found.append((overrides, "the overrides file"))
    if history is not None:
        found.append((history, "the QC history file"))
    # the raw files as listed (they may lie outside the batch folder), read by the worklist's own
    # reader (semicolon, tab, BOM: a plain csv.DictReader saw no 'file' column in a semicolon
    # worklist and let --out BATCH/raw --force through); the pipeline reports an unreadable one
    try:
        entries = read_worklist(batch_dir / "worklist.csv", max_rows=max_rows).entries  # (refused later)
    except ThioquantError:
        entries = ()
    found += [(batch_dir / e.file, f"raw file {e.file}") for e in entries if e.file]
    return found


def _input_folders(batch_dir: Path, inputs: list[tuple[Path, str]]) -> list[tuple[Path, str]]:
    """The folders nothing may be written into: the batch folder and each folder of raw files."""
    found: dict[str, tuple[Path, str]] = {str(batch_dir): (batch_dir, "the batch folder")}
    for p, what in inputs:
        if what.startswith("raw file "):
            found.setdefault(str(p.parent), (p.parent, f"the folder of {what}"))
    return list(found.values())
