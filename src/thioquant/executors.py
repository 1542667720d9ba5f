"""Where the injections of a batch are measured: in this process, a local process pool or
dask.distributed, through the measurement cache.

Each injection is one :func:`~thioquant.measure.measure_injection` call; the calibrators are
measured first, and their median peak widths are every other injection's expected widths.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from thioquant.assay.method import Method
from thioquant.assay.worklist import WorklistEntry
from thioquant.errors import InputError, ThioquantError
from thioquant.measure import calibrator_widths, measure_injection
from thioquant.measurement import InjectionMeasurement


def _measure_one(args: tuple[Any, ...]) -> InjectionMeasurement:
    return measure_injection(*args)


EXECUTORS = ("process", "dask")


@dataclass(frozen=True)
class _Measuring:
    """What every injection of one measuring pass shares: the batch folder, the method, the
    manual integrations by sample, the measurement cache, where the work runs (executor, dask
    scheduler, shipped bytes), whether traces are kept for views, and the blank for S/N."""

    batch: Path
    m: Method
    manual: Mapping[str, Mapping[str, tuple[float, float]]]
    cache: Any | None = None
    executor: str = "process"
    views: bool = False
    blanks: Mapping[str, Any] | None = None
    blank_sha: str = ""
    scheduler: str | None = None
    ship_files: bool = False


def _measure_all(
    ctx: _Measuring, entries: Sequence[WorklistEntry], jobs: int,
    progress: Callable[[int, int], None] | None,
    widths: Mapping[str, float] | None = None,
    warm_imports: Sequence[str] = (),
) -> list[InjectionMeasurement]:
    """Measure every injection, in order: from the cache where possible, else in parallel.

    The calibrators are measured first, on their own; their median peak widths
    (:func:`~thioquant.measure.calibrator_widths`) are then every other injection's expected widths
    (:func:`~thioquant.measure.width_hint`). ``widths`` given: every injection is measured with them.
    """
    cal = [i for i, e in enumerate(entries) if e.sample_type == "calibrator"]
    if widths is not None or not cal or len(cal) == len(entries):
        return _measure_set(ctx, entries, jobs, progress, widths or None, warm_imports)
    is_cal = set(cal)
    rest = [i for i in range(len(entries)) if i not in is_cal]
    n = len(entries)

    def shifted(offset: int) -> Callable[[int, int], None] | None:
        return None if progress is None else (lambda done, _total: progress(offset + done, n))

    first = _measure_set(ctx, [entries[i] for i in cal], jobs, shifted(0))
    hints = calibrator_widths([entries[i] for i in cal], first) or None
    # the tail's imports are warmed during the second, longer set only: the first set's pool is
    # joined (and a new one forked) before it, and an import still running would hold it up
    second = _measure_set(ctx, [entries[i] for i in rest], jobs, shifted(len(cal)), hints, warm_imports)
    out: list[InjectionMeasurement | None] = [None] * n
    for i, meas in zip(cal, first, strict=True):
        out[i] = meas
    for i, meas in zip(rest, second, strict=True):
        out[i] = meas
    return [x for x in out if x is not None]


def measurement_digest(m: Method, blanks: Mapping[str, Any] | None = None, blank_sha: str = "",
                       widths: Mapping[str, float] | None = None) -> str:
    """What, besides the file and its manual integrations, a measurement depends on (the
    measurement cache's key): the method, the blank whose noise an S/N is measured on, and the
    calibrators' widths that are an injection's expected widths."""
    from thioquant.cache import measurement_hash

    digest = measurement_hash(m)
    if blanks:  # S/N against a blank: the same file must give the same noise
        digest = f"{digest}|blank:{blank_sha}:{','.join(sorted(blanks))}"
    if widths:
        digest = f"{digest}|widths:{sorted((k, round(v, 9)) for k, v in widths.items())}"
    return digest


def _measure_set(
    ctx: _Measuring, entries: Sequence[WorklistEntry], jobs: int,
    progress: Callable[[int, int], None] | None,
    widths: Mapping[str, float] | None = None,
    warm_imports: Sequence[str] = (),
) -> list[InjectionMeasurement]:
    """:func:`_measure_all`'s work for one set of injections, all with the same ``widths``."""
    batch, m, manual, cache, views, blanks = ctx.batch, ctx.m, ctx.manual, ctx.cache, ctx.views, ctx.blanks
    all_tasks = [(str(batch / e.file), m, manual.get(e.sample_id), views, blanks or None, widths)
                 for e in entries]
    total = len(all_tasks)
    # one measurement per (file, manual integrations): rows naming the same file (DUPLICATE_FILE,
    # unusable anyway) are not read, hashed or measured again; 10,000 such rows took 3 minutes
    first: dict[tuple[str, str], int] = {}
    same_as: list[int] = []
    for i, (path, _, man, _v, _b, _w) in enumerate(all_tasks):
        same_as.append(first.setdefault((path, repr(sorted((man or {}).items()))), i))
    unique = sorted(set(same_as))
    named = {i for i, e in enumerate(entries) if e.file}
    tasks = [all_tasks[i] for i in unique]
    out: list[InjectionMeasurement | None] = [
        None if i in named else InjectionMeasurement(all_tasks[i][0], error="no raw file named")
        for i in unique
    ]
    if cache is not None:
        from thioquant.cache import cache_key
        from thioquant.io import file_sha256

        method_digest = measurement_digest(m, blanks, ctx.blank_sha, widths)
        for i, (path, _, man, _v, _b, _w) in enumerate(tasks):
            if out[i] is not None:
                continue
            try:
                key = cache_key(file_sha256(path), method_digest, man)
            except (OSError, ThioquantError):
                continue  # measure_injection reports the unreadable or non-regular file
            out[i] = cache.get(key, path)
    todo = [i for i in range(len(tasks)) if out[i] is None]
    done = total - len(todo)
    if progress and done:
        progress(done, total)
    for i, meas in _run_tasks([tasks[i] for i in todo], todo, jobs, ctx.executor, ctx.scheduler,
                              ctx.ship_files, warm_imports):
        out[i] = meas
        if cache is not None and meas.sha256:
            # keyed by the hash of the bytes actually measured: a file replaced between the
            # lookup and the measurement must not be cached under its old content's key
            cache.put(cache_key(meas.sha256, method_digest, tasks[i][2]), meas)
        done += 1
        if progress:
            progress(done, total)
    at = dict(zip(unique, out, strict=True))
    return [m_ for m_ in (at[j] for j in same_as) if m_ is not None]


#: what the serial tail after the measurements imports (calibration with scipy.special's Student's
#: t, QC, interpretation): about 0.6 s of CPU in a fresh interpreter, imported by
#: :class:`_ImportWarmer` while worker processes measure
_TAIL_MODULES = ("scipy.special", "thioquant.calibration", "thioquant.calibration.interval",
                 "thioquant.calibration.select", "thioquant.qc.run", "thioquant.qc.hold",
                 "thioquant.clinical", "thioquant.assay.normalise")


class _ImportWarmer:
    """Import modules in a background thread (errors ignored: the real import reports them).

    Used only while worker processes do the work and this process waits for their results; on 2
    cores the imports share the CPU with the workers, and the batch's wall time falls by about
    half the imports' CPU time. A missing name is skipped in silence (a test checks the lists).
    The results cannot change: importing earlier runs the same code.
    """

    def __init__(self, modules: Sequence[str]) -> None:
        import threading

        self._modules = tuple(modules)
        self._thread = threading.Thread(target=self._run, name="thioquant-import-warmer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        import importlib

        for name in self._modules:
            with contextlib.suppress(Exception):
                importlib.import_module(name)

    def join(self) -> None:
        self._thread.join()


def _run_tasks(
    tasks: list[tuple[Any, ...]], index: list[int], jobs: int,
    executor: str, scheduler: str | None = None, ship_files: bool = False,
    warm_imports: Sequence[str] = (),
) -> Any:
    """Yield (index, measurement) pairs; the order of completion may differ from the input.

    ``warm_imports``: modules to import in this process while worker processes (the pool's, or
    dask's once its first result is back) measure, with those of the serial tail
    (:data:`_TAIL_MODULES`).
    """
    if executor not in EXECUTORS:
        raise ThioquantError(f"unknown executor {executor!r} (choose {', '.join(EXECUTORS)})")
    if (scheduler or ship_files) and executor != "dask":
        raise ThioquantError("a scheduler address and --ship-files need --executor dask")
    if not tasks:
        return
    if executor == "dask":
        gen = _run_dask(tasks, index, jobs, scheduler, ship_files)
        first = next(gen, None)  # the cluster is reached and its workers measure
        warm = _ImportWarmer(_TAIL_MODULES + tuple(warm_imports))
        try:
            if first is not None:
                yield first
            yield from gen
        finally:
            warm.join()
        return
    if jobs > 1 and len(tasks) > 2:
        from concurrent.futures import ProcessPoolExecutor

        # The first injection is measured here: it imports the reader and the peak engine
        # once, and forked workers inherit them instead of each importing them again.
        yield index[0], _measure_one(tasks[0])
        rest, rest_index = tasks[1:], index[1:]
        chunk = max(1, len(rest) // (jobs * 32))  # small chunks: workers finish together
        with ProcessPoolExecutor(max_workers=jobs) as pool:
            results = pool.map(_measure_one, rest, chunksize=chunk)  # every worker started
            # this process only waits from here on: it imports what the serial tail needs
            # meanwhile, so those imports overlap the measurements instead of following them
            warm = _ImportWarmer(_TAIL_MODULES + tuple(warm_imports))
            try:
                yield from zip(rest_index, results, strict=True)
            finally:
                warm.join()  # no import may be half done when this process forks again
        return
    for i, t in zip(index, tasks, strict=True):
        yield i, _measure_one(t)


# --- dask.distributed -------------------------------------------------------------------------

#: tasks in flight per worker thread: enough to keep every worker busy between round trips,
#: few enough that shipped file bytes do not pile up in the client's memory
_DASK_WINDOW_PER_THREAD = 4
#: how long to wait for the scheduler at ``--scheduler`` before giving up (exit 2)
_DASK_CONNECT_TIMEOUT_S = 20


def _pack(path: str) -> bytes | dict[str, bytes]:
    """The bytes of a raw file, or of every file in a raw folder (relative path -> bytes)."""
    p = Path(path)
    if p.is_dir():
        return {f.relative_to(p).as_posix(): f.read_bytes() for f in sorted(p.rglob("*")) if f.is_file()}
    if not p.is_file():  # a FIFO would block the client for ever; the worker's reader names it
        raise OSError(f"not a regular file: {p}")
    return p.read_bytes()


def _relabel(meas: InjectionMeasurement, read: str, shown: str) -> InjectionMeasurement:
    """The measurement of a file read at ``read`` as if read at ``shown`` (the worklist's path)."""
    if read == shown:
        return meas
    return replace(meas, file=shown, error=meas.error.replace(read, shown),
                   problems=tuple((k, c, r.replace(read, shown)) for k, c, r in meas.problems))


def measure_remote(shown: str, read: str, method: Method, manual: Mapping[str, tuple[float, float]] | None,
                   views: bool, blanks: Mapping[str, Any] | None,
                   payload: bytes | dict[str, bytes] | None = None,
                   widths: Mapping[str, float] | None = None) -> InjectionMeasurement:
    """:func:`~thioquant.measure.measure_injection` on a dask worker: the file at ``read`` (an absolute path on a
    shared file system), or ``payload``, its bytes shipped by the client, written to a temporary
    folder under the same name. Messages name the file as the worklist does (``shown``)."""
    if payload is None:
        return _relabel(measure_injection(read, method, manual, views, blanks, widths), read, shown)
    import tempfile

    with tempfile.TemporaryDirectory(prefix="thioquant-") as tmp:
        local = Path(tmp) / Path(shown).name
        if isinstance(payload, dict):
            for rel, data in payload.items():
                f = local / rel
                f.parent.mkdir(parents=True, exist_ok=True)
                f.write_bytes(data)
            local.mkdir(exist_ok=True)  # an empty folder stays a folder
        else:
            local.write_bytes(payload)
        return _relabel(measure_injection(str(local), method, manual, views, blanks, widths), str(local), shown)


def _run_dask(tasks: list[tuple[Any, ...]], index: list[int], jobs: int, scheduler: str | None,
              ship_files: bool) -> Any:
    """Measure on dask.distributed: a LocalCluster of ``jobs`` workers, or the cluster at
    ``scheduler``. A task whose worker dies is rescheduled by the scheduler on another worker
    (up to ``distributed.scheduler.allowed-failures`` times; after that the injection is flagged
    as failed, with the reason, and the batch goes on)."""
    import contextlib
    import os

    try:
        from dask.distributed import Client, LocalCluster, as_completed
        from distributed.scheduler import KilledWorker
    except ImportError:
        raise ThioquantError("--executor dask needs dask.distributed: pip install 'thioquant[cluster]'") from None
    with contextlib.ExitStack() as stack:
        if scheduler:
            try:
                client = stack.enter_context(Client(scheduler, timeout=_DASK_CONNECT_TIMEOUT_S, set_as_default=False))
            except (OSError, TimeoutError, ValueError) as exc:
                raise InputError(f"cannot reach the dask scheduler at {scheduler}: {exc}") from None
        else:
            cluster = stack.enter_context(LocalCluster(n_workers=jobs, threads_per_worker=1, processes=True,
                                                       dashboard_address=None))
            client = stack.enter_context(Client(cluster, set_as_default=False))
        # the method and the blank traces go to the workers once, not with every task
        shared: dict[int, Any] = {}

        def once(obj: Any) -> Any:
            if obj is None:
                return None
            if id(obj) not in shared:
                shared[id(obj)] = client.scatter(obj, broadcast=True, hash=False)
            return shared[id(obj)]

        threads = sum(client.nthreads().values()) or max(1, jobs)
        window = max(2, _DASK_WINDOW_PER_THREAD * threads)
        pending = iter(zip(index, tasks, strict=True))
        where: dict[str, tuple[int, str]] = {}
        running = as_completed(loop=client.loop)

        def submit() -> bool:
            nxt = next(pending, None)
            if nxt is None:
                return False
            i, (path, m, manual, views, blanks, widths) = nxt
            read = os.path.abspath(path)  # the workers' working folders are not ours
            payload = None
            if ship_files:
                try:
                    payload = _pack(path)
                except OSError:
                    payload = None  # measure_injection names the unreadable file as usual
            fut = client.submit(measure_remote, path, read, once(m), manual, views, once(blanks), payload,
                                widths, pure=False)
            where[fut.key] = (i, path)
            running.add(fut)
            return True

        for _ in range(window):
            if not submit():
                break
        for fut in running:
            i, path = where.pop(fut.key)
            try:
                meas = fut.result()
            except KilledWorker as exc:
                meas = InjectionMeasurement(
                    path, internal_error=True,
                    error=f"{path}: could not be measured: every dask worker that tried it died ({exc}); "
                          "please report it with this file")
            fut.release()
            submit()
            yield i, meas
