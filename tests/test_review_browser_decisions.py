"""In headless Chromium: the review of a run quantified with a decisions file (``quantify
--overrides``) shows, on the Calibration and Run pages, that a calibrator was excluded by that
file's row, not by a reviewer; a reviewer's own exclusion still reads "excluded by reviewer".
Skips when chromium is absent (see test_review_browser.py)."""

from __future__ import annotations

import pytest

from test_review_browser import CHROMIUM, DRIVER, _shot, _sign_in, _text, _wait, browser  # noqa: F401

pytestmark = pytest.mark.skipif(CHROMIUM is None or DRIVER is None,
                                reason="chromium and chromium-driver not installed "
                                       "(apt-get install chromium chromium-driver)")

CAL5 = '.card[data-analyte="6-MMP"] tr[data-sample="CAL5"]'
CAL3 = '.card[data-analyte="6-TG"] tr[data-sample="CAL3"]'


def test_a_file_exclusion_is_shown_with_its_file_and_row(browser, sample_batch, tmp_path,  # noqa: F811
                                                         review_users):
    from selenium.webdriver.common.by import By

    from thioquant.cli import main
    from thioquant.review.app import ReviewServer
    from thioquant.review.session import ReviewSession

    batch, out = sample_batch(), tmp_path / "out"
    dec = tmp_path / "decisions.csv"
    dec.write_text("action,sample_id,analyte,reason\nexclude_calibrator,CAL5,6-MMP,bubble in the vial\n",
                   encoding="utf-8")
    main(["quantify", str(batch), "--out", str(out), "--overrides", str(dec), "--quiet", "--no-history", "--no-pdf"])
    said = f"excluded by decisions file {dec} row 2: bubble in the vial"
    srv = ReviewServer(ReviewSession(out, review_users)).start()
    drv = browser
    try:
        drv.get(srv.url + "#/calibration")
        _wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, f"{CAL5} td.reason"))
        assert _text(drv, f"{CAL5} td.reason") == said  # was: "excluded by reviewer: bubble in the vial"
        drv.get(srv.url + "#/run")
        _wait(drv, lambda d: "CAL5 from 6-MMP" in (d.page_source or ""))
        items = [li.text for li in drv.find_elements(By.CSS_SELECTOR, "#view .card li")]
        assert f"CAL5 from 6-MMP: bubble in the vial (by decisions file {dec} row 2)" in items
        _shot(drv, tmp_path, "review_run_decisions_file")

        # a reviewer's own exclusion, beside it, is the reviewer's; the file's keeps its source
        _sign_in(drv)
        drv.get(srv.url + "#/calibration")
        _wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, f"{CAL3} button.exclude"))
        row = drv.find_element(By.CSS_SELECTOR, CAL3)
        row.find_element(By.CSS_SELECTOR, "input.excl-reason").send_keys("pipetting error")
        row.find_element(By.CSS_SELECTOR, "button.exclude").click()
        _wait(drv, lambda d: d.find_elements(By.CSS_SELECTOR, '.card[data-analyte="6-TG"] tr.excluded[data-sample="CAL3"]'))
        assert _text(drv, f"{CAL3} td.reason") == "excluded by reviewer: pipetting error"
        assert _text(drv, f"{CAL5} td.reason") == said
    finally:
        srv.close()
