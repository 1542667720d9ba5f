"""The review web application (Flask), served by waitress on 127.0.0.1 only.

Security (docs/review.md):

- bound to 127.0.0.1; the ``Host`` header must name it (or ``localhost``) with the server's port,
  so a page of another site whose name resolves to 127.0.0.1 (DNS rebinding) is refused;
- a random token (``secrets.token_urlsafe(32)``) in the printed URL, as Jupyter does; every request
  needs it, in the query string, the ``X-Review-Token`` header or the cookie the first page sets
  (HttpOnly, SameSite=Strict);
- every state-changing request (POST) needs the token in the ``X-Review-Token`` header, which a
  cross-site form or image cannot send (no CORS is ever answered), and JSON content;
- edits need a signed-in user (``X-Review-User`` header with the key the sign-in returned);
  signatures need the password again;
- files served: the package's static assets (Flask's safe join) and the output files of the
  reviewed folder and its versions, looked up by name in a list made from disk (never a path
  joined from the request);
- every edit carries the revision the page was showing; a stale one (another tab changed the
  batch) is refused with 409 and the page reloads.
"""

from __future__ import annotations

import contextlib
import hmac
import secrets
from pathlib import Path
from typing import Any

from thioquant.errors import InputError, ReviewError, ThioquantError
from thioquant.review.session import ReviewSession

TOKEN_HEADER = "X-Review-Token"
USER_HEADER = "X-Review-User"
COOKIE = "thioquant_review_token"


def create_app(session: ReviewSession, token: str | None = None, port: int = 0) -> Any:
    """The Flask application of ``session``; ``app.config['TOKEN']`` holds the token and
    ``app.config['PORT']`` the port the Host header must name (set it once the server is bound)."""
    from flask import Flask, abort, jsonify, make_response, render_template, request, send_file

    here = Path(__file__).parent
    app = Flask("thioquant.review", template_folder=str(here / "templates"), static_folder=str(here / "static"),
                static_url_path="/static")
    app.json.sort_keys = False  # analytes and columns in the method's order
    app.config.update(TOKEN=token or secrets.token_urlsafe(32), PORT=port, MAX_CONTENT_LENGTH=64 * 1024)
    signed_in: dict[str, Any] = {}  # sign-in key -> User (in memory: a restart signs everyone out)

    def token_ok(value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(str(value).encode(), app.config["TOKEN"].encode())

    @app.before_request
    def guard() -> Any:
        host = (request.headers.get("Host") or "").lower()
        allowed = {f"127.0.0.1:{app.config['PORT']}", f"localhost:{app.config['PORT']}"}
        if host not in allowed:
            abort(403, description="Host header not allowed (this server answers only 127.0.0.1)")
        if request.method not in ("GET", "HEAD"):
            if not token_ok(request.headers.get(TOKEN_HEADER)):
                abort(403, description=f"state-changing requests need the token in the {TOKEN_HEADER} header")
            if not request.is_json:
                abort(415, description="JSON body expected")
            return None
        if not (token_ok(request.args.get("token")) or token_ok(request.headers.get(TOKEN_HEADER))
                or token_ok(request.cookies.get(COOKIE))):
            abort(403, description="missing or wrong token: open the URL thioquant review printed")
        return None

    @app.after_request
    def headers(resp: Any) -> Any:
        resp.headers["X-Content-Type-Options"] = "nosniff"
        resp.headers["X-Frame-Options"] = "DENY"
        resp.headers["Referrer-Policy"] = "no-referrer"  # the token must not leak in a Referer
        resp.headers["Content-Security-Policy"] = ("default-src 'self'; img-src 'self' data:; "
                                                   "style-src 'self'; script-src 'self'; frame-ancestors 'none'")
        resp.headers["Cache-Control"] = "no-store"
        return resp

    @app.errorhandler(ThioquantError)
    def thioquant_error(exc: ThioquantError) -> Any:
        status = 409 if "changed elsewhere" in str(exc) else (403 if isinstance(exc, ReviewError) else 400)
        return jsonify({"error": str(exc)}), status

    @app.errorhandler(400)
    @app.errorhandler(403)
    @app.errorhandler(404)
    @app.errorhandler(405)
    @app.errorhandler(413)
    @app.errorhandler(415)
    def http_error(exc: Any) -> Any:
        return jsonify({"error": getattr(exc, "description", str(exc))}), exc.code

    def user() -> Any:
        u = signed_in.get(request.headers.get(USER_HEADER, ""))
        if u is None:
            raise ReviewError("sign in first: every edit is recorded with its user")
        return u

    def body() -> dict[str, Any]:
        data = request.get_json(silent=True)
        if not isinstance(data, dict):
            raise InputError("JSON object expected")
        return data

    @app.get("/")
    def index() -> Any:
        resp = make_response(render_template("index.html", out=str(session.out)))
        if token_ok(request.args.get("token")):
            resp.set_cookie(COOKIE, app.config["TOKEN"], httponly=True, samesite="Strict")
        return resp

    @app.get("/favicon.ico")
    def favicon() -> Any:
        return "", 204

    @app.get("/api/state")
    def state() -> Any:
        return jsonify(session.state())

    @app.get("/api/injection/<sample_id>")
    def injection(sample_id: str) -> Any:
        return jsonify(session.injection(sample_id))

    @app.get("/files/<path:name>")
    def files(name: str) -> Any:
        from thioquant.audit import AUDIT_FILE, output_files

        allowed: dict[str, Path] = {n: session.out / n for n in output_files(session.out)}
        allowed[AUDIT_FILE] = session.out / AUDIT_FILE
        vroot = session.out / "versions"
        for v in session.versions():
            vdir = vroot / v["version"]
            for n in [*output_files(vdir), AUDIT_FILE]:
                allowed[f"versions/{v['version']}/{n}"] = vdir / n
        path = allowed.get(name)
        if path is None or not path.is_file():
            abort(404, description="not a file of this batch's output")
        return send_file(path.resolve(), as_attachment=not name.endswith((".pdf", ".html", ".json", ".csv",
                                                                               ".txt", ".jsonl")))

    @app.post("/api/login")
    def login() -> Any:
        d = body()
        u = session.sign_in(str(d.get("user", "")), str(d.get("password", "")))
        key = secrets.token_urlsafe(24)
        signed_in[key] = u
        return jsonify({"key": key, **u.as_dict()})

    @app.post("/api/integrate")
    def integrate() -> Any:
        d = body()
        e = session.integrate(user(), str(d.get("sample_id")), str(d.get("analyte")), d.get("start_min"),
                              d.get("end_min"), str(d.get("reason", "")), rev=d.get("rev"))
        return jsonify({"entry": e, "state": session.state()})

    @app.post("/api/automatic")
    def automatic() -> Any:
        d = body()
        e = session.automatic(user(), str(d.get("sample_id")), str(d.get("analyte")),
                              str(d.get("reason") or "back to automatic integration"), rev=d.get("rev"))
        return jsonify({"entry": e, "state": session.state()})

    @app.post("/api/exclude")
    def exclude() -> Any:
        d = body()
        fn = session.include if d.get("include") else session.exclude
        e = fn(user(), str(d.get("sample_id")), str(d.get("analyte")), str(d.get("reason", "")), rev=d.get("rev"))
        return jsonify({"entry": e, "state": session.state()})

    @app.post("/api/undo")
    def undo() -> Any:
        e = session.undo(user(), rev=body().get("rev"))
        return jsonify({"entry": e, "state": session.state()})

    @app.post("/api/sign")
    def sign() -> Any:
        d = body()
        e = session.sign(str(d.get("user", "")), str(d.get("password", "")), str(d.get("meaning", "")),
                         rev=d.get("rev"))
        return jsonify({"entry": e, "state": session.state()})

    return app


class ReviewServer:
    """waitress serving the app on 127.0.0.1 (``port=0``: any free port), in this thread or another."""

    def __init__(self, session: ReviewSession, port: int = 0, token: str | None = None) -> None:
        from waitress.server import create_server

        self.app = create_app(session, token)
        self.server = create_server(self.app, host="127.0.0.1", port=port, threads=4, ident="thioquant-review")
        self.port = int(self.server.effective_port)
        self.app.config["PORT"] = self.port
        self.token = self.app.config["TOKEN"]
        self.url = f"http://127.0.0.1:{self.port}/?token={self.token}"
        self._thread: Any = None

    def serve_forever(self) -> None:
        self.server.run()

    def start(self) -> ReviewServer:
        import threading

        self._thread = threading.Thread(target=self.server.run, name="thioquant-review", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Stop serving: close the listening socket and every open connection (the loop ends
        when its socket map is empty), then stop the worker threads."""
        for channel in list(self.server._map.values()):  # the listener, connections, the trigger
            with contextlib.suppress(OSError):
                channel.close()
        self.server.task_dispatcher.shutdown(timeout=2)
        if self._thread is not None:
            self._thread.join(timeout=5)
