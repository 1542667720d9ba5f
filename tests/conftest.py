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


@pytest.fixture(autouse=True)
def _results_root(request, tmp_path_factory, monkeypatch):
    """Every test's default output folders (``thioquant quantify BATCH`` without ``--out``) go under a
    results root of its own (``THIOQUANT_RESULTS``, created only when written), never into the
    checkout's ./thioquant-results, where parallel tests would meet; find them with
    ``thioquant.locations.default_output_dir(batch)``."""
    import hashlib

    from thioquant.locations import RESULTS_ENV

    tag = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:16]
    monkeypatch.setenv(RESULTS_ENV, str(tmp_path_factory.getbasetemp() / "results-roots" / tag))


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



@pytest.fixture(scope="session")
def _review_base(tmp_path_factory):
    """The bundled LC-MS/MS batch quantified once per session (raw files and cache shared)."""
    from thioquant.cli import main

    batch = tmp_path_factory.mktemp("review-base") / "lcmsms"
    shutil.copytree(REPO / "sample_data" / "lcmsms", batch,
                    ignore=shutil.ignore_patterns("results", ".thioquant-cache.sqlite", "qc_history.sqlite"))
    main(["quantify", str(batch), "--out", str(batch.parent / "results"), "--quiet", "--no-history"])
    assert (batch.parent / "results" / "audit.jsonl").is_file()
    return batch


@pytest.fixture
def review_users(tmp_path: Path, monkeypatch):
    """A user file (``THIOQUANT_USERS``) with analyst ``alice`` (password ``alice-pass``) and
    authorisers ``bob`` (``bob-pass-1``) and ``carol`` (``carol-pass``); argon2 at a small cost so
    that the tests stay fast."""
    from argon2 import PasswordHasher

    from thioquant.review.users import UserStore

    store = UserStore(tmp_path / "users.json", hasher=PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))
    monkeypatch.setenv("THIOQUANT_USERS", str(store.path))
    store.add("alice", "analyst", "alice-pass", "Alice Analyst")
    store.add("bob", "authoriser", "bob-pass-1", "Bob Authoriser")
    store.add("carol", "authoriser", "carol-pass", "Carol Second")
    return store


@pytest.fixture
def review_setup(_review_base, tmp_path: Path, review_users):
    """``(output_dir, UserStore)``: a fresh copy of the quantified bundled LC-MS/MS output folder
    (its batch folder, shared, is only read), and a user file with analyst ``alice`` (password
    ``alice-pass``) and authorisers ``bob`` (``bob-pass-1``) and ``carol`` (``carol-pass``).
    The hashes use argon2 with a small cost so that the tests stay fast."""
    out = tmp_path / "results"
    shutil.copytree(_review_base.parent / "results", out)
    return out, review_users
