"""Review: time from one manual integration to the updated screen data.

For the bundled LC-MS/MS batch (42 injections) and a 960-injection batch built as in
bench_batch.py (the bundled design repeated, raw files symlinked), this quantifies the batch once
(``thioquant quantify`` with its measurement cache, no report: only the output folder's tables and
audit trail are needed), opens a :class:`~thioquant.review.session.ReviewSession` on it (the cache is
then warm), starts the review server on 127.0.0.1 and times, over HTTP as the page does it,
``POST /api/integrate`` (with the token header and a signed-in user) until the response - the whole
new state the page draws (results, calibration, QC, interpretation) - is received and parsed.
Each edit moves the start boundary of one patient's 6-TG peak to a new time (a cache miss: that
injection is measured again) and the batch is re-quantified; the server-side split (re-quantify
vs. building the state document) is timed too.

    uv run python benchmarks/bench_review.py            # 42 and 960 injections, 7 edits each
    uv run python benchmarks/bench_review.py --quick    # 42 only

Targets (issue 20): < 1 s on the bundled batch, < 3 s on 960 injections.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))


def _post(url: str, path: str, body: dict, token: str, user: str = "") -> dict:
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json", "X-Review-Token": token,
                                          "X-Review-User": user})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read())


def bench(batch: Path, edits: int) -> dict:
    from argon2 import PasswordHasher

    from thioquant.review.app import ReviewServer
    from thioquant.review.session import ReviewSession
    from thioquant.review.users import UserStore

    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "thioquant", "quantify", str(batch), "--quiet", "--no-history",
                    "--no-report", "--force"], check=True, capture_output=True)
    t_quantify = time.perf_counter() - t
    out = batch / "results"
    users = UserStore(batch.parent / f"users-{batch.name}.json",
                      hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    users.add("bench", "analyst", "bench-pass", replace=True)
    t = time.perf_counter()
    session = ReviewSession(out, users)
    t_open = time.perf_counter() - t
    patients = [e.sample_id for e in session.batch.worklist.entries if e.sample_type == "unknown"]
    srv = ReviewServer(session).start()
    base = f"http://127.0.0.1:{srv.port}"
    try:
        key = _post(base, "/api/login", {"user": "bench", "password": "bench-pass"}, srv.token)["key"]
        rounds, server_side, state_doc = [], [], []
        for i in range(edits):
            sid = patients[(7 * i) % len(patients)]
            pk = session._peak_doc(sid, "6-TG")
            start = pk["start_min"] + 0.01 * (i + 1)
            body = {"sample_id": sid, "analyte": "6-TG", "start_min": start, "end_min": pk["end_min"],
                    "reason": "benchmark", "rev": session.rev}
            t = time.perf_counter()
            doc = _post(base, "/api/integrate", body, srv.token, key)
            rounds.append(time.perf_counter() - t)
            assert doc["state"]["review"]["rev"] == i + 1
            # the server-side parts, once more on the same state (a cache hit for the injection)
            t = time.perf_counter()
            session.batch = session._compute(session.manual, session.exclusions)
            server_side.append(time.perf_counter() - t)
            t = time.perf_counter()
            session.state()
            state_doc.append(time.perf_counter() - t)
        size = len(json.dumps(doc["state"]))
    finally:
        srv.close()
    return {"injections": len(session.batch.worklist.entries), "quantify_s": t_quantify, "open_s": t_open,
            "median_s": statistics.median(rounds), "max_s": max(rounds),
            "requantify_s": statistics.median(server_side), "state_s": statistics.median(state_doc),
            "state_kb": size / 1024}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the bundled batch only")
    ap.add_argument("--edits", type=int, default=7)
    args = ap.parse_args()
    import bench_batch

    tmp = Path(tempfile.mkdtemp(prefix="bench-review-"))
    bench_batch.WORK = tmp
    small = tmp / "lcmsms_42"
    shutil.copytree(ROOT / "sample_data" / "lcmsms", small,
                    ignore=shutil.ignore_patterns("results", ".thioquant-cache.sqlite", "qc_history.sqlite"))
    batches = [small] + ([] if args.quick else [bench_batch.build_batch("lcmsms", 960)])
    lines = [f"# bench_review.py, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, {args.edits} edits per batch",
             "",
             "| injections | quantify (cold cache) | open review | edit -> new state, median | max | "
             "re-quantify | state document | state size |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    try:
        for b in batches:
            r = bench(b, args.edits)
            lines.append(f"| {r['injections']} | {r['quantify_s']:.2f} s | {r['open_s']:.2f} s | {r['median_s']:.3f} s | "
                         f"{r['max_s']:.3f} s | {r['requantify_s']:.3f} s | {r['state_s']:.3f} s | "
                         f"{r['state_kb']:.0f} kB |")
            print(lines[-1], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    (ROOT / "benchmarks" / "results_review.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
