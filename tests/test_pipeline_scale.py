"""Wall-time work on the batch (issue 23): the serial tail's imports overlap the measurements,
and results.xlsx is written by a forked process beside the other outputs. Neither may change a
byte of the outputs."""

from __future__ import annotations

import errno
import subprocess
import sys
from pathlib import Path

import pytest

from thioquant.errors import OutputError
from thioquant.pipeline import quantify
from thioquant.report import writer

REPO = Path(__file__).resolve().parents[1]
FORKS = sys.platform.startswith("linux")


@pytest.fixture(scope="module")
def lcmsms_batch():
    return quantify(REPO / "sample_data" / "lcmsms")


def test_import_warmer_imports_and_ignores_failures():
    code = ("import sys; from thioquant.executors import _ImportWarmer\n"
            "w = _ImportWarmer(['no_such_module_for_thioquant', 'colorsys']); w.join()\n"
            "print('colorsys' in sys.modules)")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.strip() == "True"


def test_warmed_module_names_exist():
    # the warmer skips a failing import in silence, so a renamed module would stop being warmed
    # without a sign: every listed name must import
    import importlib

    from thioquant.cli.quantify import _REPORT_MODULES, _WRITER_MODULES
    from thioquant.executors import _TAIL_MODULES

    for name in (*_TAIL_MODULES, *_WRITER_MODULES, *_REPORT_MODULES):
        importlib.import_module(name)


def test_quantify_warms_the_tail_while_workers_measure(tmp_path, sample_batch):
    # with --jobs 2 the main process imports the requested modules (and the tail's) in a thread
    # while the pool measures; no thread is left running (the report's fork needs a single thread)
    batch = sample_batch("lcmsms")
    code = ("import sys, threading; from thioquant.pipeline import quantify\n"
            f"b = quantify({str(batch)!r}, jobs=2, warm_imports=['colorsys'])\n"
            "print('colorsys' in sys.modules, 'scipy.special' in sys.modules, threading.active_count())")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["True", "True", "1"]


@pytest.mark.skipif(not FORKS, reason="results.xlsx is written in process where fork is not used")
def test_xlsx_is_written_by_a_forked_process(tmp_path):
    # in a fresh interpreter: the writer forks only from a single-threaded process, and a test
    # process may hold threads of earlier tests (dask's)
    code = f"""
import os, sys
from pathlib import Path
from thioquant.pipeline import quantify
from thioquant.report import writer
b = quantify({str(REPO / "sample_data" / "lcmsms")!r})
real, where = writer._write_xlsx, Path({str(tmp_path / "pid")!r})
def recording(batch, stage, rows=None):
    where.write_text(str(os.getpid()))
    real(batch, stage, rows)
writer._write_xlsx = recording
tm = {{}}
out = writer.write_outputs(b, {str(tmp_path / "forked")!r}, timestamp=False, report=False, timings=tm)
forked = int(where.read_text()) != os.getpid() and tm["xlsx"] > 0
writer._can_fork = lambda: False
here = writer.write_outputs(b, {str(tmp_path / "here")!r}, timestamp=False, report=False)
in_process = int(where.read_text()) == os.getpid()
same = all((out / n).read_bytes() == (here / n).read_bytes() for n in writer.ALWAYS_WRITTEN)
print(forked, in_process, same)
"""
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert res.stdout.split() == ["True", "True", "True"]


@pytest.mark.skipif(not FORKS, reason="results.xlsx is written in process where fork is not used")
def test_xlsx_failure_in_the_forked_process_leaves_no_folder(lcmsms_batch, tmp_path, monkeypatch):
    def full(batch, stage, rows=None):
        (stage / "results.xlsx").write_bytes(b"partial")
        raise OSError(errno.ENOSPC, "No space left on device", str(stage / "results.xlsx"))

    monkeypatch.setattr(writer, "_write_xlsx", full)
    # the child's OSError comes back as the same OSError, which the writer reports as usual
    with pytest.raises(OutputError, match=r"results\.xlsx: cannot be written: No space left"):
        writer.write_outputs(lcmsms_batch, tmp_path / "out", timestamp=False, report=False)
    assert not (tmp_path / "out").exists()
    assert not list(tmp_path.iterdir())  # no staging folder left behind either


@pytest.mark.skipif(not FORKS, reason="results.xlsx is written in process where fork is not used")
def test_failure_beside_the_xlsx_process_stops_it(lcmsms_batch, tmp_path, monkeypatch):
    def broken(batch, stage, rows=None):
        raise ValueError("json part broke")

    monkeypatch.setattr(writer, "_write_json", broken)
    with pytest.raises(ValueError, match="json part broke"):
        writer.write_outputs(lcmsms_batch, tmp_path / "out", timestamp=False, report=False)
    assert not (tmp_path / "out").exists()
