"""The review web application's security and API, through Flask's test client (no browser):
token on every request, token header for state changes (CSRF), Host check (DNS rebinding), only
the output's files served (no path traversal), stale revisions refused (docs/review.md)."""

from __future__ import annotations

import pytest

from thioquant.review.app import create_app
from thioquant.review.session import ReviewSession

TOKEN = "test-token-0123456789"
BASE = "http://127.0.0.1:8765"


@pytest.fixture
def client(review_setup):
    out, users = review_setup
    app = create_app(ReviewSession(out, users), token=TOKEN, port=8765)
    return app.test_client()


def _post(client, path, body, token=TOKEN, user=None, host=None):
    headers = {}
    if token:
        headers["X-Review-Token"] = token
    if user:
        headers["X-Review-User"] = user
    if host:
        headers["Host"] = host
    return client.post(path, json=body, headers=headers, base_url=BASE)


def test_token_required_on_every_request(client):
    assert client.get("/", base_url=BASE).status_code == 403
    assert client.get("/api/state", base_url=BASE).status_code == 403
    assert client.get("/static/review.js", base_url=BASE).status_code == 403
    assert client.get("/api/state?token=wrong", base_url=BASE).status_code == 403
    first = client.get(f"/?token={TOKEN}", base_url=BASE)
    assert first.status_code == 200 and "thioquant review" in first.text
    cookie = first.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    # the cookie set by the first page then serves the page's own requests
    assert client.get("/api/state", base_url=BASE).status_code == 200
    assert client.get("/static/review.js", base_url=BASE).status_code == 200


def test_foreign_host_refused(client):
    for host in ("evil.example:8765", "127.0.0.1:9999", "attacker.127.0.0.1.nip.io:8765", ""):
        r = client.get(f"/api/state?token={TOKEN}", base_url=BASE, headers={"Host": host})
        assert r.status_code == 403, host
    assert client.get(f"/api/state?token={TOKEN}", base_url="http://localhost:8765").status_code == 200


def test_state_change_needs_token_header_not_cookie(client):
    client.get(f"/?token={TOKEN}", base_url=BASE)  # the cookie is set
    r = _post(client, "/api/login", {"user": "alice", "password": "alice-pass"}, token=None)
    assert r.status_code == 403 and "header" in r.json["error"]
    # a cross-site form post (not JSON) is refused too
    r = client.post("/api/login", data={"user": "alice", "password": "alice-pass"},
                    headers={"X-Review-Token": TOKEN}, base_url=BASE)
    assert r.status_code == 415


@pytest.mark.parametrize("path", [
    "/files/../worklist.csv", "/files/..%2Fworklist.csv", "/files/../../etc/passwd", "/files/%2e%2e/%2e%2e/etc/passwd",
    "/files//etc/passwd", "/files/review/journal.jsonl", "/files/versions/v1/../../audit.jsonl",
    "/static/../app.py", "/static/%2e%2e/app.py", "/files/results.csv/..",
])
def test_only_output_files_are_served(client, path):
    r = client.get(path, headers={"X-Review-Token": TOKEN}, base_url=BASE, follow_redirects=True)
    assert r.status_code in (403, 404), path
    assert b"sample_id" not in r.data and b"root:" not in r.data and b"def create_app" not in r.data


def test_output_files_served(client):
    r = client.get("/files/results.csv", headers={"X-Review-Token": TOKEN}, base_url=BASE)
    assert r.status_code == 200 and b"sample_id" in r.data


def test_edit_needs_sign_in_and_current_revision(client):
    r = _post(client, "/api/integrate", {"sample_id": "P002", "analyte": "6-TG", "start_min": 1.43,
                                         "end_min": 1.62, "reason": "x", "rev": 0})
    assert r.status_code == 403 and "sign in" in r.json["error"]
    bad = _post(client, "/api/login", {"user": "alice", "password": "nope-nope"})
    assert bad.status_code == 403
    key = _post(client, "/api/login", {"user": "alice", "password": "alice-pass"}).json["key"]
    edit = {"sample_id": "P002", "analyte": "6-TG", "start_min": 1.43, "end_min": 1.62,
            "reason": "tailing cut off", "rev": 0}
    r = _post(client, "/api/integrate", edit, user=key)
    assert r.status_code == 200
    state = r.json["state"]
    assert state["review"]["rev"] == 1 and state["review"]["manual"][0]["user"] == "alice"
    row = next(x for x in state["results"] if x["sample_id"] == "P002" and x["analyte"] == "6-TG")
    assert "MANUAL" in row["flags"]
    # a second tab still on revision 0: refused with 409, so that the first edit is not lost
    r = _post(client, "/api/exclude", {"sample_id": "CAL3", "analyte": "6-TG", "reason": "bubble", "rev": 0},
              user=key)
    assert r.status_code == 409 and "reload" in r.json["error"]
    r = _post(client, "/api/exclude", {"sample_id": "CAL3", "analyte": "6-TG", "reason": "bubble", "rev": 1},
              user=key)
    assert r.status_code == 200 and r.json["state"]["review"]["exclusions"][0]["reason"] == "bubble"


def test_injection_document(client):
    r = client.get("/api/injection/P002", headers={"X-Review-Token": TOKEN}, base_url=BASE)
    doc = r.json
    tg = next(a for a in doc["analytes"] if a["analyte"] == "6-TG")
    roles = [c["role"] for c in tg["channels"]]
    assert roles == ["quantifier", "qualifier", "internal standard"]
    quant = tg["channels"][0]
    assert len(quant["t"]) == len(quant["y"]) > 50
    assert quant["peak"]["start_min"] < quant["peak"]["rt_min"] < quant["peak"]["end_min"]
    assert client.get("/api/injection/NOPE", headers={"X-Review-Token": TOKEN}, base_url=BASE).status_code == 400


def test_review_command_serves_on_localhost_with_a_token(review_setup):
    """``thioquant review OUT --no-browser`` prints a 127.0.0.1 URL with a token, serves the state
    with it and refuses without it; it is stopped by SIGTERM/SIGINT."""
    import json
    import os
    import re
    import signal
    import subprocess
    import sys
    import urllib.error
    import urllib.request

    out, _users = review_setup
    proc = subprocess.Popen([sys.executable, "-m", "thioquant", "review", str(out), "--no-browser"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy())
    try:
        url = None
        for _ in range(20):
            line = proc.stdout.readline()
            m = re.search(r"(http://127\.0\.0\.1:(\d+)/\?token=(\S+))", line)
            if m:
                url, port, token = m.group(1), m.group(2), m.group(3)
                break
        assert url, proc.stderr.read() if proc.poll() is not None else "no URL printed"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state?token={token}", timeout=30) as r:
            assert json.loads(r.read())["verdict"]["accepted"] is True
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/api/state", timeout=30)
            raise AssertionError("served without the token")
        except urllib.error.HTTPError as exc:
            assert exc.code == 403
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert not (out / "review").exists()  # looking leaves no trace
