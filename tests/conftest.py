"""Shared fixtures. Real instrument files live in ../shared/data beside the repository;
tests that need them skip, with the reason shown, when that folder is absent."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw the same examples on every run, so a red run can be reproduced and does not
# come and go with the random seed; HYPOTHESIS_PROFILE=explore draws new ones each run.
settings.register_profile("repeatable", derandomize=True)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "repeatable"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real instrument files not available ({SHARED_DATA} absent)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO


@pytest.fixture
def sample_batch(tmp_path: Path):
    """``copy(name="lcmsms", dst=None)``: a fresh copy of ``sample_data/<name>`` (default
    ``tmp_path/<name>``) without earlier results, measurement cache or QC history."""

    def copy(name: str = "lcmsms", dst: Path | None = None) -> Path:
        dst = dst or tmp_path / name
        shutil.copytree(REPO / "sample_data" / name, dst,
                        ignore=shutil.ignore_patterns("results", ".thioquant-cache.sqlite", "qc_history.sqlite"))
        return dst

    return copy


@pytest.fixture
def review_setup(sample_batch, tmp_path: Path, monkeypatch):
    """``(output_dir, UserStore)``: the bundled LC-MS/MS batch quantified into a tmp copy, and a
    user file with analyst ``alice`` (password ``alice-pass``) and authoriser ``bob``
    (``bob-pass-1``) and ``carol`` (``carol-pass``) for the review (docs/review.md)."""
    from thioquant.cli import main
    from thioquant.review.users import UserStore

    batch = sample_batch("lcmsms")
    main(["quantify", str(batch), "--quiet", "--no-history", "--no-pdf"])
    assert (batch / "results" / "audit.jsonl").is_file()
    store = UserStore(tmp_path / "users.json")
    monkeypatch.setenv("THIOQUANT_USERS", str(store.path))
    store.add("alice", "analyst", "alice-pass", "Alice Analyst")
    store.add("bob", "authoriser", "bob-pass-1", "Bob Authoriser")
    store.add("carol", "authoriser", "carol-pass", "Carol Second")
    return batch / "results", store
