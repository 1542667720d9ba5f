"""``quantify --executor dask --scheduler ADDRESS`` on a real dask.distributed cluster: a
``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1, started and always stopped
here. Results are identical to ``--jobs 1``, by path (shared file system) and with
``--ship-files``; a worker killed mid-batch loses no injection."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("distributed")

DASK = Path(sys.executable).with_name("dask")
COMPARED = ("results.csv", "qc.csv", "calibration.json", "interpretation.csv")


class Cluster:
    """A scheduler and ``n`` workers (one thread each, no nanny: a killed worker stays dead)."""

    def __init__(self, folder: Path, n: int = 2, timeout_s: float = 60) -> None:
        self.folder = folder
        self.procs: dict[str, subprocess.Popen] = {}
        folder.mkdir(parents=True, exist_ok=True)
        sched_file = folder / "scheduler.json"
        try:
            self._start("scheduler", [str(DASK), "scheduler", "--host", "127.0.0.1", "--port", "0",
                                      "--no-dashboard", "--scheduler-file", str(sched_file)])
            deadline = time.monotonic() + timeout_s
            while not (sched_file.is_file() and sched_file.stat().st_size):
                self._alive_or_fail(deadline)
                time.sleep(0.05)
            time.sleep(0.05)  # the file is written in one go, but let it be closed
            self.address = json.loads(sched_file.read_text())["address"]
            for i in range(1, n + 1):
                self._start(f"w{i}", [str(DASK), "worker", self.address, "--name", f"w{i}", "--nthreads", "1",
                                      "--no-nanny", "--no-dashboard", "--host", "127.0.0.1"])
            from distributed import Client

            with Client(self.address, timeout="30s", set_as_default=False) as c:
                c.wait_for_workers(n, timeout=timeout_s)
        except BaseException:
            self.stop()
            raise

    def _start(self, name: str, cmd: list[str]) -> None:
        # the workers' working folder is not the test's: paths must reach them absolute
        self.procs[name] = subprocess.Popen(cmd, cwd=self.folder, stdout=subprocess.DEVNULL,
                                            stderr=open(self.folder / f"{name}.log", "wb"))  # noqa: SIM115

    def _alive_or_fail(self, deadline: float) -> None:
        for name, p in self.procs.items():
            if p.poll() is not None:
                raise RuntimeError(f"dask {name} exited: {(self.folder / f'{name}.log').read_text()[-2000:]}")
        if time.monotonic() > deadline:
            raise TimeoutError("dask cluster did not start in time")

    def stop(self) -> None:
        # killed, not terminated: a worker shutting down gracefully waits seconds for its
        # scheduler, and nothing here needs a clean shutdown
        for p in self.procs.values():
            if p.poll() is None:
                p.kill()
        for p in self.procs.values():
            p.wait(timeout=10)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    c = Cluster(tmp_path_factory.mktemp("dask"))
    yield c
    c.stop()


def _cli(cwd: Path, *args: str, env: dict[str, str] | None = None) -> None:
    cmd = [sys.executable, "-m", "thioquant", "quantify", *args, "--no-cache", "--no-history", "--no-report",
           "--quiet"]
    res = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=120,
                         env={**os.environ, **(env or {})})
    assert res.returncode == 0, res.stderr


def test_cluster_results_identical_to_one_process(cluster, tmp_path, sample_batch, repo_root):
    sample_batch("lcmsms", tmp_path / "batch")
    method = str(repo_root / "calibrations" / "thiopurines_lcmsms.toml")
    _cli(tmp_path, "batch", "--method", method, "--jobs", "1", "--out", "one")  # a relative batch path
    _cli(tmp_path, "batch", "--method", method, "--executor", "dask", "--scheduler", cluster.address,
         "--out", "bypath")
    _cli(tmp_path, "batch", "--method", method, "--executor", "dask", "--ship-files", "--out", "shipped",
         env={"DASK_SCHEDULER_ADDRESS": cluster.address})
    for name in COMPARED:
        ref = (tmp_path / "one" / name).read_bytes()
        assert (tmp_path / "bypath" / name).read_bytes() == ref, name
        assert (tmp_path / "shipped" / name).read_bytes() == ref, name
    audit = [json.loads(line) for line in (tmp_path / "shipped" / "audit.jsonl").read_text().splitlines()]
    params = next(e for e in audit if "parameters" in e)["parameters"]
    assert params["scheduler"] == cluster.address and params["ship_files"] is True
    assert all(p.poll() is None for p in cluster.procs.values())  # the cluster outlives the client


def test_shipped_bytes_are_measured_without_the_path(repo_root):
    # what a worker without the shared file system does: the path does not exist there
    from thioquant.assay.method import load_method
    from thioquant.executors import measure_remote
    from thioquant.measure import measure_injection

    src = repo_root / "sample_data" / "lcmsms" / "raw" / "016_P002.mzML"
    m = load_method(repo_root / "calibrations" / "thiopurines_lcmsms.toml")
    shown = "raw/016_P002.mzML"
    meas = measure_remote(shown, "/nonexistent/016_P002.mzML", m, None, False, None, src.read_bytes())
    ref = measure_injection(src, m)
    assert meas.file == shown and not meas.error and meas.sha256 == ref.sha256
    assert {k: (p.area if p else None) for k, p in meas.peaks.items()} == \
        {k: (p.area if p else None) for k, p in ref.peaks.items()}
    missing = measure_remote(shown, "/nonexistent/016_P002.mzML", m, None, False, None, None)
    assert missing.error and "/nonexistent/016_P002.mzML" not in missing.error and shown in missing.error


KILLER = r"""
import json, os, signal, sys
from distributed import Client
from thioquant.pipeline import quantify
from thioquant.report.tables import results_csv

address, batch, pids = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
watch = Client(address, set_as_default=False, timeout="30s")
killed = []

def progress(done, total):
    if killed or done < 6:
        return
    names = {a: w["name"] for a, w in watch.scheduler_info(n_workers=-1)["workers"].items()}
    for addr, keys in watch.processing().items():
        if keys:  # a worker with injections in hand
            os.kill(pids[names[addr]], signal.SIGKILL)
            killed.append({"worker": names[addr], "in_hand": len(keys), "done": done, "total": total})
            return

b = quantify(batch, executor="dask", scheduler=address, progress=progress)
watch.close()
print(json.dumps({"killed": killed, "csv": results_csv(b.results),
                  "errors": [m.error for m in b.measurements if m.error]}))
"""


def test_a_worker_killed_mid_batch_loses_no_injection(tmp_path, sample_batch):
    from thioquant.pipeline import quantify
    from thioquant.report.tables import results_csv

    batch = sample_batch("lcmsms", tmp_path / "batch")
    ref = results_csv(quantify(batch, jobs=1).results)
    c = Cluster(tmp_path / "cluster")
    try:
        pids = {name: p.pid for name, p in c.procs.items()}
        # generous: on a loaded 2-core machine the surviving worker measures the whole batch alone
        res = subprocess.run([sys.executable, "-c", KILLER, c.address, str(batch), json.dumps(pids)],
                             capture_output=True, text=True, timeout=300)
        assert res.returncode == 0, res.stderr[-3000:]
        out = json.loads(res.stdout.strip().splitlines()[-1])
        [kill] = out["killed"]
        assert kill["in_hand"] >= 1 and kill["done"] < kill["total"]  # killed mid-batch, with work
        assert c.procs[kill["worker"]].wait(timeout=10) == -9  # and it stayed dead
        assert out["errors"] == [] and out["csv"] == ref  # every injection measured, same numbers
    finally:
        c.stop()


def test_unreachable_scheduler_is_an_input_error_before_any_output(tmp_path, sample_batch):
    # in a subprocess: a dask client leaves its event-loop thread behind, which other tests'
    # forked writers must not inherit
    import socket

    batch = sample_batch("lcmsms", tmp_path / "batch")
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    code = ("import sys\nfrom thioquant import executors, pipeline\nfrom thioquant.errors import InputError\n"
            "executors._DASK_CONNECT_TIMEOUT_S = 2\n"
            "try:\n    pipeline.quantify(sys.argv[1], executor='dask', scheduler=sys.argv[2])\n"
            "except InputError as exc:\n    print('InputError:', exc)\n")
    res = subprocess.run([sys.executable, "-c", code, str(batch), f"tcp://127.0.0.1:{port}"],
                         capture_output=True, text=True, timeout=120)
    assert f"InputError: cannot reach the dask scheduler at tcp://127.0.0.1:{port}" in res.stdout, res.stderr[-2000:]


def test_scheduler_options_need_the_dask_executor(tmp_path, sample_batch):
    from click.testing import CliRunner

    from thioquant.cli import cli as main

    batch = sample_batch("lcmsms", tmp_path / "batch")
    runner = CliRunner()
    res = runner.invoke(main, ["quantify", str(batch), "--scheduler", "tcp://127.0.0.1:8786", "--out",
                               str(tmp_path / "a")])
    assert res.exit_code == 2 and "--scheduler needs --executor dask" in res.output
    res = runner.invoke(main, ["quantify", str(batch), "--ship-files", "--out", str(tmp_path / "b")])
    assert res.exit_code == 2 and "--ship-files needs --executor dask" in res.output
    # the variable, set for other programs, does not move a local run to a cluster
    res = runner.invoke(main, ["quantify", str(batch), "--no-report", "--quiet", "--out", str(tmp_path / "c")],
                        env={"DASK_SCHEDULER_ADDRESS": "tcp://127.0.0.1:1"})
    assert res.exit_code == 0, res.output
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()
