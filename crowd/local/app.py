"""The local labeling server as a Flask app: sign-in, the HIT page, images, status, JSON API.

Labelers are known by a signed session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS)
set at sign-in and tied to their name's key, so an answer can only be submitted by the labeler
its HIT was handed to, and a new key ends every older session. Every request is checked for
its ``Host`` and every POST for its origin (:mod:`crowd.local.guard`); forms carry a CSRF
token. Images are served by their opaque per-HIT token, and only to a labeler who was handed
that HIT: no file path ever reaches the server.
"""

from __future__ import annotations

import hmac
import secrets
from collections.abc import Callable
from functools import lru_cache
from typing import Any, TypeVar

from flask import Flask, Response, jsonify, redirect, render_template, request, session, url_for
from flask.sessions import SecureCookieSessionInterface
from pydantic import ValidationError
from werkzeug.wrappers import Response as BaseResponse

from crowd.local import labelers
from crowd.local.api import (
    ImageRef,
    NextHit,
    ScreenRef,
    SessionReply,
    SessionRequest,
    SubmitReply,
)
from crowd.local.codes import matches
from crowd.local.guard import ServerPolicy, SignInLimiter, TooManyTries, same_origin
from crowd.local.labelers import BadSecret
from crowd.local.market import Clock, Handout, LocalMarket, Refused, check_served
from crowd.local.status import market_status
from crowd.page import render_hit_page
from infra.images import FORMATS
from infra.ledger import Ledger, iso
from infra.sources import read_verified
from infra.workspace import Workspace

_T = TypeVar("_T")

IMAGE_CACHE = 32


class _SessionInterface(SecureCookieSessionInterface):
    """Session cookies marked Secure whenever the page came over HTTPS (directly or through a
    trusted proxy), so a browser never sends them in the clear."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


def create_app(
    ws: Workspace,
    policy: ServerPolicy | None = None,
    *,
    clock: Clock | None = None,
    limiter: SignInLimiter | None = None,
    batches: tuple[int, ...] = (),
) -> Flask:
    """The server for the workspace's open local batches (or those of ``batches``).

    Parameters
    ----------
    ws : Workspace
        Its ledger holds the batches; ``mturk.assignment_duration_seconds`` is how long a
        hand-out is held.
    policy : ServerPolicy, optional
        Hosts, codes and modes (default: loopback, no access code, no requester's code).
    clock : callable, optional
        Now, as an aware datetime (tests move it forward).
    limiter : SignInLimiter, optional
        Failed sign-ins per client address (tests give one with its own clock).
    batches : tuple of int
        The batches to hand out (empty: every open local batch).

    Raises
    ------
    BeautyError
        One of ``batches`` is not an open local batch.
    """
    check_served(ws.ledger, batches)
    policy = policy or ServerPolicy()
    limiter = limiter or SignInLimiter()
    app = Flask(__name__)
    app.secret_key = secrets.token_bytes(32)
    app.session_interface = _SessionInterface()
    app.jinja_env.autoescape = True
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        MAX_CONTENT_LENGTH=policy.max_body_bytes,
    )
    market = LocalMarket(
        ws.ledger, ws.settings.mturk.assignment_duration_seconds, policy.expert, batches=batches
    )
    if clock is not None:
        market.clock = clock
    image_bytes = _image_reader(ws.ledger)

    def labeler() -> str | None:
        """The signed-in labeler, while the key they signed in with is still theirs."""
        worker, print_ = session.get("worker"), session.get("key")
        if not isinstance(worker, str) or not isinstance(print_, str):
            return None
        return worker if labelers.still_valid(ws.ledger, worker, print_) else None

    def client() -> str:
        return request.remote_addr or "unknown"

    def checked(check: Callable[[], _T]) -> _T:
        """Run a check of a secret under the client's budget of failed tries."""
        wait = limiter.retry_after(client())
        if wait:
            raise TooManyTries(wait)
        try:
            result = check()
        except BadSecret:
            limiter.failed(client())
            raise
        limiter.succeeded(client())
        return result

    def sign_in(payload: dict[str, Any]) -> labelers.Identity:
        try:
            req = SessionRequest.model_validate(payload)
        except ValidationError as exc:
            error = exc.errors()[0]
            field = str(error["loc"][0]) if error["loc"] else "sign-in"
            field = "name" if field == "worker" else field
            raise Refused(400, f"{field}: {error['msg']}") from None
        code_ok = policy.access_code is None or matches(req.access_code, policy.access_code)
        identity = checked(
            lambda: labelers.sign_in(
                ws.ledger, req.worker, req.key or None, code_ok=code_ok,
                invite_only=policy.invite_only, now=iso(market.clock()),
            )
        )  # fmt: skip
        market.sign_in(identity.worker)
        session.clear()
        session["worker"], session["key"] = identity.worker, identity.fingerprint
        return identity

    def link(identity: labelers.Identity) -> str | None:
        if identity.new_key is None:
            return None
        return url_for("login", name=identity.worker, key=identity.new_key, _external=True)

    def form_token() -> str:
        token = session.get("csrf")
        if not isinstance(token, str):
            token = session["csrf"] = secrets.token_urlsafe(16)
        return token

    def check_form_token() -> None:
        token = session.get("csrf")
        given = request.form.get("csrf", "")
        if not isinstance(token, str) or not hmac.compare_digest(given.encode(), token.encode()):
            raise Refused(403, "this form has expired: reload the page and try again")

    def check_admin_code(given: str | None) -> None:
        if policy.admin_code is None:
            raise Refused(403, "this server has no requester's code")
        if not matches(given, policy.admin_code):
            raise BadSecret("wrong requester's code")

    @app.before_request
    def _guard() -> None:
        if not policy.hosts.allows(request.host):
            raise Refused(400, "unknown host: open the address the server printed")
        own = f"{request.scheme}://{request.host}"
        if request.method == "POST" and not same_origin(
            request.headers.get("Origin"), request.headers.get("Referer"), own
        ):
            raise Refused(403, "refused: the request came from another site")

    @app.after_request
    def _headers(response: Response) -> Response:
        response.headers["X-Content-Type-Options"] = "nosniff"
        # Same-origin requests keep their Origin and Referer for the check above; other sites
        # never see a URL of this server (a sign-in link holds a key).
        response.headers["Referrer-Policy"] = "same-origin"
        response.headers["X-Frame-Options"] = "DENY"
        if request.endpoint in ("login", "welcome", "status"):
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.errorhandler(Refused)
    def _refused(exc: Refused) -> tuple[Response, int]:
        response = jsonify(error=str(exc))
        if isinstance(exc, TooManyTries):
            response.headers["Retry-After"] = str(exc.wait)
        return response, exc.status

    @app.get("/")
    def index() -> BaseResponse:
        return redirect(url_for("hit" if labeler() else "login"))

    @app.route("/login", methods=["GET", "POST"])
    def login() -> BaseResponse | tuple[str, int, dict[str, str]]:
        error, status, headers = None, 200, {}
        source = request.form if request.method == "POST" else request.args
        name, key = source.get("name") or source.get("worker") or "", source.get("key") or ""
        if request.method == "POST":
            try:
                check_form_token()
                identity = sign_in(
                    {"worker": name, "access_code": request.form.get("access_code"), "key": key}
                )
                if identity.new_key is not None:
                    session["new_link"] = link(identity)
                    return redirect(url_for("welcome"))
                return redirect(url_for("hit"))
            except Refused as exc:
                error, status = str(exc), exc.status
                if isinstance(exc, TooManyTries):
                    headers["Retry-After"] = str(exc.wait)
        page = render_template(
            "login.html",
            error=error,
            needs_code=policy.access_code is not None,
            expert=policy.expert,
            name=name,
            key=key,
            csrf=form_token(),
        )
        return page, status, headers

    @app.get("/welcome")
    def welcome() -> BaseResponse | str:
        worker, new_link = labeler(), session.pop("new_link", None)
        if worker is None or not isinstance(new_link, str):
            return redirect(url_for("hit"))
        return render_template("welcome.html", worker=worker, link=new_link)

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

    @app.route("/status", methods=["GET", "POST"])
    def status() -> BaseResponse | tuple[str, int]:
        error, code = None, 200
        if request.method == "POST":
            try:
                check_form_token()
                checked(lambda: check_admin_code(request.form.get("admin_code")))
                session["admin"] = True
                return redirect(url_for("status"))
            except Refused as exc:
                error, code = str(exc), exc.status
        worker, everyone = labeler(), session.get("admin") is True
        figures = None
        if everyone or worker is not None:
            now = iso(market.clock())
            figures = market_status(ws.ledger, now, labeler=None if everyone else worker)
        page = render_template(
            "status.html", status=figures, admin=everyone, worker=worker, expert=policy.expert,
            error=error, csrf=form_token(),
        )  # fmt: skip
        return page, code

    @app.get("/img/<token>")
    def image(token: str) -> Response:
        worker = labeler()
        if worker is None:
            raise Refused(401, "sign in first")
        served, params = market.served_hits()
        found = ws.ledger.one(
            "SELECT si.image_id FROM screen_images si JOIN screens s ON s.id = si.screen_id "
            f"WHERE si.token = ? AND s.hit_id IN ({served}) AND EXISTS ("
            "  SELECT 1 FROM assignments a WHERE a.hit_id = s.hit_id AND a.worker_id = ?)",
            (token, *params, worker),
        )
        if found is None:
            raise Refused(404, "no such image in your HITs")
        data, content_type = image_bytes(str(found["image_id"]))
        response = Response(data, mimetype=content_type)
        response.headers["Cache-Control"] = "private, max-age=3600"
        return response

    @app.post("/api/session")
    def api_session() -> Response:
        if not request.is_json:
            raise Refused(415, "send the sign-in as application/json")
        payload = request.get_json(silent=True)
        identity = sign_in(payload if isinstance(payload, dict) else {})
        reply = SessionReply(worker=identity.worker, key=identity.new_key, link=link(identity))
        return jsonify(reply.model_dump())

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
        reply = SubmitReply(gold_made=result.gold_made, next=url_for("hit"))
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
                return read_verified(uri, image_id), FORMATS[row["format"]]
            except Exception:  # moved, replaced, missing, no credentials: try the next copy
                continue
        raise Refused(410, "the image file is gone from every place it was registered")

    return read
