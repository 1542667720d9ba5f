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
vs. building the state document) is timed too. Then, as a person sees it, in headless Chromium
(when chromium and chromedriver are installed): from the click on "Apply manual integration" on an
injection page (typed start time) until that page is drawn again with the new revision and the
MANUAL flag (the page fetches the new state and the injection's traces).

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


def _browser_edits(srv, patients: list[str], session, edits: int) -> list[float]:
    """Seconds from the click on "Apply manual integration" to the injection page showing the new
    area, in headless Chromium (Debian's chromium + chromedriver); [] when they are absent."""
    chromium, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and driver):
        return []
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    opts = Options()
    opts.binary_location = chromium
    for a in ("--headless=new", "--no-sandbox", "--disable-gpu", "--window-size=1280,900"):
        opts.add_argument(a)
    drv = webdriver.Chrome(service=Service(driver), options=opts)
    out = []
    try:
        drv.get(srv.url)
        WebDriverWait(drv, 60).until(lambda d: "revision" in d.find_element(By.ID, "verdict-bar").text)
        drv.find_element(By.ID, "login-user").send_keys("bench")
        drv.find_element(By.ID, "login-password").send_keys("bench-pass")
        drv.find_element(By.ID, "login-button").click()
        WebDriverWait(drv, 30).until(lambda d: "bench" in d.find_element(By.ID, "who-name").text)
        for i in range(edits):
            sid = patients[(11 * i + 3) % len(patients)]
            drv.get(srv.url + "#/injection/" + sid)
            css = '.card.analyte[data-analyte="6-TG"]'
            WebDriverWait(drv, 60).until(lambda d, c=css: d.find_elements(By.CSS_SELECTOR, c + " input.start"))
            card = drv.find_element(By.CSS_SELECTOR, css)
            rev = session.rev
            start = card.find_element(By.CSS_SELECTOR, "input.start")
            value = float(start.get_attribute("value")) + 0.015 * (i + 1)
            start.clear()
            start.send_keys(f"{value:.4f}")
            card.find_element(By.CSS_SELECTOR, "input.reason-text").send_keys("benchmark")
            button = card.find_element(By.CSS_SELECTOR, "button.apply")
            t = time.perf_counter()
            button.click()
            WebDriverWait(drv, 60, poll_frequency=0.01).until(
                lambda d, r=rev: f"revision {r + 1}" in d.find_element(By.ID, "verdict-bar").text
                and d.find_elements(By.CSS_SELECTOR, '.card.analyte[data-analyte="6-TG"] .flag.MANUAL'))
            out.append(time.perf_counter() - t)
    finally:
        drv.quit()
    return out


def bench(batch: Path, edits: int, browser: bool = True) -> dict:
    from argon2 import PasswordHasher

    from thioquant.review.app import ReviewServer
    from thioquant.review.session import ReviewSession
    from thioquant.review.users import UserStore

    t = time.perf_counter()
    out = batch.parent / f"out-{batch.name}"  # never inside the batch folder
    subprocess.run([sys.executable, "-m", "thioquant", "quantify", str(batch), "--out", str(out), "--quiet",
                    "--no-history", "--no-report", "--force"], check=True, capture_output=True)
    t_quantify = time.perf_counter() - t
    users = UserStore(batch.parent / f"users-{batch.name}.json",
                      hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    users.add("bench", "analyst", "bench-pass", replace=True)
    t = time.perf_counter()
    session = ReviewSession(out, users)
    t_open = time.perf_counter() - t
    # patients with a 6-TG peak to move (a patient without the analyte, as P001, has none)
    patients = [e.sample_id for e in session.batch.worklist.entries
                if e.sample_type == "unknown" and session._peak_doc(e.sample_id, "6-TG")]
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
            session.batch = session._compute(session.manual, session.exclusions, session.inclusions)
            server_side.append(time.perf_counter() - t)
            t = time.perf_counter()
            session.state()
            state_doc.append(time.perf_counter() - t)
        size = len(json.dumps(doc["state"]))
        screen = _browser_edits(srv, patients, session, edits) if browser else []
    finally:
        srv.close()
    return {"injections": len(session.batch.worklist.entries), "quantify_s": t_quantify, "open_s": t_open,
            "median_s": statistics.median(rounds), "max_s": max(rounds),
            "requantify_s": statistics.median(server_side), "state_s": statistics.median(state_doc),
            "state_kb": size / 1024, "screen_s": statistics.median(screen) if screen else float("nan"),
            "screen_max_s": max(screen) if screen else float("nan")}


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
             "| injections | quantify (cold cache) | open review | edit -> new state (HTTP), median | max | "
             "re-quantify | state document | state size | click -> page redrawn (Chromium), median | max |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    print("\n".join(lines), flush=True)
    try:
        for b in batches:
            r = bench(b, args.edits)
            lines.append(f"| {r['injections']} | {r['quantify_s']:.2f} s | {r['open_s']:.2f} s | {r['median_s']:.3f} s | "
                         f"{r['max_s']:.3f} s | {r['requantify_s']:.3f} s | {r['state_s']:.3f} s | "
                         f"{r['state_kb']:.0f} kB | {r['screen_s']:.3f} s | {r['screen_max_s']:.3f} s |")
            print(lines[-1], flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    (ROOT / "benchmarks" / "results_review.md").write_text("\n".join(lines) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
