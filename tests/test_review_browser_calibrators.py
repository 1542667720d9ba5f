"""In headless Chromium: a reviewer includes a calibrator that was set aside for a held
integration (CAL_HELD) with a reason, and sees the curve pass and the run accepted; undo takes it
back. Skips when chromium is absent (see test_review_browser.py)."""

from __future__ import annotations

import re

import pytest

from held_runs import held_run
from test_review_browser import CHROMIUM, DRIVER, _shot, _sign_in, _text, _wait, browser  # noqa: F401

pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="chromium and chromium-driver not installed "
                                       "(apt-get install chromium chromium-driver)")

ROW = '.card[data-analyte="6-TG"] tr[data-sample="CAL4"]'


def test_reviewer_includes_a_held_calibrator_in_chromium(browser, tmp_path, monkeypatch):  # noqa: F811
    from argon2 import PasswordHasher
    from selenium.webdriver.common.by import By

    from thioquant.review.app import ReviewServer
    from thioquant.review.session import ReviewSession
    from thioquant.review.users import UserStore

    out = held_run(tmp_path)
    store = UserStore(tmp_path / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setenv("THIOQUANT_USERS", str(store.path))
    store.add("alice", "analyst", "alice-pass", "Alice Analyst")
    srv = ReviewServer(ReviewSession(out, store)).start()
    drv = browser
    try:
        drv.get(srv.url + "#/calibration")
        _wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, f"{ROW} button.include.held"))
        assert "REJECTED" in _text(drv, "#verdict-bar")
        head = '.card[data-analyte="6-TG"] h3'
        assert "FAIL" in _text(drv, head)
        n_before = int(re.search(r"(\d+)/8 calibrators", _text(drv, head)).group(1))  # 5: three set aside
        assert "excluded before the fit: integration held for review" in _text(drv, f"{ROW} td.reason")
        r2_before = _text(drv, '.card[data-analyte="6-TG"] .r2')
        _sign_in(drv)

        drv.get(srv.url + "#/calibration")
        _wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, f"{ROW} button.include.held"))
        drv.find_element(By.CSS_SELECTOR, f"{ROW} button.include").click()  # no reason: refused
        _wait(drv, lambda d: "Give a reason to include" in (_text(d, "#banner") or ""))
        assert "revision 0" in _text(drv, "#verdict-bar")
        drv.find_element(By.CSS_SELECTOR, f"{ROW} input.incl-reason").send_keys("chromatogram checked, ratio fine")
        drv.find_element(By.CSS_SELECTOR, f"{ROW} button.include").click()
        _wait(drv, lambda d: "revision 1" in (_text(d, "#verdict-bar") or ""))
        _wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, f"{ROW} button.exclude"))
        assert not drv.find_elements(By.CSS_SELECTOR, '.card[data-analyte="6-TG"] tr.excluded[data-sample="CAL4"]')
        assert _text(drv, f"{ROW} td.reason").startswith("included by reviewer: chromatogram checked, ratio fine")
        assert "pass" in _text(drv, head) and f"{n_before + 1}/8 calibrators" in _text(drv, head)
        assert _text(drv, '.card[data-analyte="6-TG"] .r2') != r2_before
        bar = _text(drv, "#verdict-bar")
        assert "ACCEPTED" in bar and "1 held calibrator(s) included" in bar
        _shot(drv, tmp_path, "review_calibration_held_included")

        # the run page lists it; undo puts the hold's exclusion back and the run is rejected again
        drv.get(srv.url + "#/run")
        _wait(drv, lambda d: "CAL4 in 6-TG (held integration) included: chromatogram checked" in (d.page_source or ""))
        drv.find_element(By.ID, "undo").click()
        _wait(drv, lambda d: "revision 2" in (_text(d, "#verdict-bar") or ""))
        assert "REJECTED" in _text(drv, "#verdict-bar")
        drv.get(srv.url + "#/calibration")
        _wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, f"{ROW} button.include.held"))
        errors = [e for e in drv.get_log("browser") if e.get("level") == "SEVERE"
                  and "the server responded with a status of 4" not in e.get("message", "")]
        assert not errors, errors
    finally:
        srv.close()


def test_a_pseudonymised_run_in_chromium_shows_pseudonyms_only(browser, sample_batch, tmp_path,  # noqa: F811
                                                               monkeypatch):
    """The pages of a --pseudonymise run, reviewed with its key: patients and injections by
    pseudonym, the chromatogram drawn from the patient's own raw file, no identifier of the lab."""
    import csv

    from argon2 import PasswordHasher
    from selenium.webdriver.common.by import By

    from thioquant.cli import main
    from thioquant.review.app import ReviewServer
    from thioquant.review.session import ReviewSession
    from thioquant.review.users import UserStore

    key = "browser-key-0123456789"
    batch = sample_batch()
    out = tmp_path / "out"
    monkeypatch.delenv("THIOQUANT_PSEUDONYM_KEY", raising=False)
    main(["quantify", str(batch), "--out", str(out), "--quiet", "--no-history", "--no-pdf", "--pseudonymise",
          "--pseudonym-key", key])
    with open(batch / "worklist.csv", encoding="utf-8", newline="") as fh:
        rows = [r for r in csv.DictReader(fh) if r["sample_type"] == "unknown"]
    secrets = {r["sample_id"] for r in rows} | {r["patient_id"] for r in rows if r["patient_id"]}
    store = UserStore(tmp_path / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    srv = ReviewServer(ReviewSession(out, store, pseudonym_key=key)).start()
    drv = browser

    def leaks() -> list[str]:
        page = drv.page_source
        return sorted(s for s in secrets if re.search(rf"(?<![A-Za-z0-9]){re.escape(s)}(?![A-Za-z0-9])", page))

    try:
        drv.get(srv.url + "#/patients")
        _wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, "table.patients tbody tr"))
        assert "pseudonymised" in _text(drv, "#verdict-bar")
        ids = [tr.get_attribute("data-sample") for tr in drv.find_elements(By.CSS_SELECTOR, "table.patients tbody tr")]
        assert len(ids) == len(rows) and all(re.fullmatch(r"S-[0-9a-f]{12}", i) for i in ids)
        assert not leaks()
        _shot(drv, tmp_path, "review_pseudonymised")
        drv.get(srv.url + f"#/injection/{ids[0]}")
        _wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, '.card.analyte[data-analyte="6-TG"] svg.chrom path.quant'))
        assert not leaks()
        for view, title in (("run", "Run"), ("injections", "Injections"), ("qc", "QC rules"),
                            ("signoff", "Signed versions")):
            drv.get(srv.url + f"#/{view}")
            _wait(drv, lambda d, t=title: t in [h.text for h in d.find_elements(By.CSS_SELECTOR, "#view h2")])
            assert not leaks(), view
    finally:
        srv.close()
