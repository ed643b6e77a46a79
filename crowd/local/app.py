"""The local labeling server as a Flask app: sign-in, the HIT page, images, status, JSON API.

Labelers are known by a signed session cookie set at sign-in, so an answer can only be
submitted by the labeler its HIT was handed to. Images are served by their opaque per-HIT
token, and only to a labeler who was handed that HIT: no file path ever reaches the server.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import lru_cache
from typing import Any

from flask import Flask, Response, jsonify, redirect, render_template, request, session, url_for
from pydantic import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from crowd.local.api import ImageRef, NextHit, ScreenRef, SessionRequest, SubmitReply
from crowd.local.market import LOCAL_HITS, Clock, Handout, LocalMarket, Refused
from crowd.local.status import market_status
from crowd.page import render_hit_page
from infra.images import FORMATS
from infra.ledger import Ledger, iso
from infra.sources import read_bytes
from infra.workspace import Workspace

MAX_ANSWER_BYTES = 1 << 20
IMAGE_CACHE = 32


def create_app(
    ws: Workspace,
    *,
    expert: bool = False,
    access_code: str | None = None,
    clock: Clock | None = None,
) -> Flask:
    """The server for the workspace's open local batches.

    Parameters
    ----------
    ws : Workspace
        Its ledger holds the batches; ``mturk.assignment_duration_seconds`` is how long a
        hand-out is held.
    expert : bool
        Labelers' answers become expert gold (an access code is then required to sign in).
    access_code : str, optional
        Required at sign-in when given.
    clock : callable, optional
        Now, as an aware datetime (tests move it forward).
    """
    access_code = access_code or None  # an empty code protects nothing
    app = Flask(__name__)
    app.secret_key = secrets.token_bytes(32)
    app.jinja_env.autoescape = True
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        MAX_CONTENT_LENGTH=MAX_ANSWER_BYTES,
    )
    market = LocalMarket(ws.ledger, ws.settings.mturk.assignment_duration_seconds, expert)
    if clock is not None:
        market.clock = clock
    image_bytes = _image_reader(ws.ledger)

    def labeler() -> str | None:
        worker = session.get("worker")
        return worker if isinstance(worker, str) else None

    def sign_in(payload: Any) -> str:
        try:
            req = SessionRequest.model_validate(payload)
        except ValidationError as exc:
            raise Refused(400, f"name: {exc.errors()[0]['msg']}") from None
        if access_code is not None and not hmac.compare_digest(
            (req.access_code or "").encode(), access_code.encode()
        ):
            raise Refused(403, "wrong access code; ask whoever runs this server for it")
        market.sign_in(req.worker)
        session.clear()
        session["worker"] = req.worker
        return req.worker

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        response.headers["Referrer-Policy"] = "no-referrer"
        response.headers["X-Frame-Options"] = "DENY"
        return response

    @app.errorhandler(Refused)
    def _refused(exc: Refused) -> tuple[Response, int]:
        return jsonify(error=str(exc)), exc.status

    @app.get("/")
    def index() -> BaseResponse:
        return redirect(url_for("hit" if labeler() else "login"))

    @app.route("/login", methods=["GET", "POST"])
    def login() -> BaseResponse | tuple[str, int]:
        error, status = None, 200
        if request.method == "POST":
            try:
                sign_in(request.form.to_dict())
                return redirect(url_for("hit"))
            except Refused as exc:
                error, status = str(exc), exc.status
        page = render_template(
            "login.html", error=error, needs_code=access_code is not None, expert=expert
        )
        return page, status

    @app.get("/hit")
    def hit() -> BaseResponse | str:
        worker = labeler()
        if worker is None:
            return redirect(url_for("login"))
        handout = market.next_hit(worker)
        if handout is None:
            return render_template("done.html", worker=worker)
        return render_hit_page(
            handout.content,
            mode="local",
            image_url=lambda token: url_for("image", token=token),
            submit_url=url_for("api_submit", assignment=handout.token),
            assignment_id=handout.token,
            no_preference=ws.settings.hits.no_preference,
            next_url=url_for("hit"),
        )

    @app.get("/status")
    def status() -> BaseResponse | str:
        if access_code is not None and labeler() is None:
            return redirect(url_for("login"))
        return render_template(
            "status.html", status=market_status(ws.ledger, iso(market.clock())), expert=expert
        )

    @app.get("/img/<token>")
    def image(token: str) -> Response:
        worker = labeler()
        if worker is None:
            raise Refused(401, "sign in first")
        found = ws.ledger.one(
            "SELECT si.image_id FROM screen_images si JOIN screens s ON s.id = si.screen_id "
            f"WHERE si.token = ? AND s.hit_id IN ({LOCAL_HITS}) AND EXISTS ("
            "  SELECT 1 FROM assignments a WHERE a.hit_id = s.hit_id AND a.worker_id = ?)",
            (token, worker),
        )
        if found is None:
            raise Refused(404, "no such image in your HITs")
        data, content_type = image_bytes(str(found["image_id"]))
        response = Response(data, mimetype=content_type)
        response.headers["Cache-Control"] = "private, max-age=3600"
        return response

    @app.post("/api/session")
    def api_session() -> Response:
        worker = sign_in(request.get_json(silent=True) or {})
        return jsonify(worker=worker)

    @app.get("/api/next")
    def api_next() -> Response | tuple[str, int]:
        worker = labeler()
        if worker is None:
            raise Refused(401, "sign in first: POST /api/session")
        handout = market.next_hit(worker)
        if handout is None:
            return "", 204
        return jsonify(_next_payload(handout, url_for).model_dump())

    @app.post("/api/submit")
    def api_submit() -> Response:
        worker = labeler()
        if worker is None:
            raise Refused(401, "sign in first: POST /api/session")
        token = request.args.get("assignment", "")
        if not request.is_json:
            raise Refused(415, "send the answer as application/json")
        result = market.submit(worker, token, request.get_data(as_text=True))
        reply = SubmitReply(
            ok=result.ok, error=result.error, gold_made=result.gold_made, next=url_for("hit")
        )
        return jsonify(reply.model_dump())

    return app


def _next_payload(handout: Handout, url_for: Callable[..., str]) -> NextHit:
    return NextHit(
        assignment=handout.token,
        hit=handout.content.hit_token,
        deadline=handout.deadline,
        submit_url=url_for("api_submit", assignment=handout.token),
        screens=[
            ScreenRef(
                token=s.token,
                kind=s.kind,
                images=[ImageRef(token=t, url=url_for("image", token=t)) for t, _ in s.images],
            )
            for s in handout.content.screens
        ],
    )


def _image_reader(ledger: Ledger) -> Callable[[str], tuple[bytes, str]]:
    """Bytes and content type of an image, from the first of its URIs that still reads."""

    @lru_cache(maxsize=IMAGE_CACHE)
    def read(image_id: str) -> tuple[bytes, str]:
        row = ledger.one("SELECT uri, format FROM images WHERE id = ?", (image_id,))
        if row is None:
            raise Refused(404, "no such image")
        uris = [row["uri"]] + [
            r[0]
            for r in ledger.query(
                "SELECT uri FROM image_uris WHERE image_id = ? AND uri != ? ORDER BY kind, uri",
                (image_id, row["uri"]),
            )
        ]
        for uri in uris:
            try:
                return read_bytes(uri), FORMATS[row["format"]]
            except Exception:  # a moved file, a missing object, no credentials: try the next copy
                continue
        raise Refused(410, "the image file is gone from every place it was registered")

    return read
