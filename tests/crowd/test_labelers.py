"""Who a labeler is: names claimed with a key, invitations, exclusion, and whose progress shows."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from click.testing import CliRunner
from flask import Flask
from flask.testing import FlaskClient

from beauty.cli import cli
from crowd.content import hit_content
from crowd.local import ServerPolicy, create_app
from infra.workspace import Workspace
from tests.crowd.market_fixtures import answer_json, gallery_workspace, plan

CODE = "correct-horse-battery"
ADMIN = "requester-only-code"


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return gallery_workspace(tmp_path)


def sign_in(app: Flask, name: str, key: str | None = None, code: str | None = None) -> Any:
    """A fresh client's JSON sign-in: the client and the response."""
    client = app.test_client()
    response = client.post("/api/session", json={"worker": name, "key": key, "access_code": code})
    return client, response


def csrf(client: FlaskClient, path: str = "/login") -> str:
    page = client.get(path).data.decode()
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def submit(client: FlaskClient, nxt: dict[str, Any], ws: Workspace) -> Any:
    hit = ws.ledger.scalar(
        "SELECT hit_id FROM assignments WHERE remote_id = ?", (nxt["assignment"],)
    )
    raw = answer_json(hit_content(ws.ledger, hit))
    return client.post(nxt["submit_url"], data=raw, content_type="application/json")


def test_the_first_sign_in_claims_a_name_and_later_ones_need_its_key(ws: Workspace) -> None:
    plan(ws, hits=2, assignments=1)
    app = create_app(ws)
    bob, first = sign_in(app, "bob")
    assert first.status_code == 200
    key = first.json["key"]
    assert key and len(key) >= 20 and f"key={key}" in first.json["link"]
    held = bob.get("/api/next").json
    assert held is not None

    # A second client typing "bob" (in any width or case) is not bob, and gets nothing of his.
    for name in ["bob", "BOB", "ｂｏｂ", " Bob "]:
        intruder, refused = sign_in(app, name)
        assert refused.status_code == 403 and "taken" in refused.json["error"], name
        assert intruder.get("/api/next").status_code == 401
        assert submit(intruder, held, ws).status_code == 401
    _, wrong = sign_in(app, "bob", key="x" * len(key))
    assert wrong.status_code == 403

    again, ok = sign_in(app, "BOB", key=key)  # the key proves the name, however it is typed
    assert ok.status_code == 200 and ok.json == {"worker": "bob", "key": None, "link": None}
    assert again.get("/api/next").json["assignment"] == held["assignment"]
    assert submit(again, held, ws).status_code == 200

    stored = ws.ledger.one("SELECT name_key, worker_id, key_hash FROM labelers")
    assert stored is not None
    assert tuple(stored) == ("bob", "bob", hashlib.sha256(key.encode()).hexdigest())
    assert key.encode() not in ws.ledger_path.read_bytes()


def test_names_are_one_labeler_after_nfkc_and_case_folding(ws: Workspace) -> None:
    app = create_app(ws)
    _, claimed = sign_in(app, "ｆａ")
    assert claimed.status_code == 200 and claimed.json["worker"] == "ｆａ"  # shown as typed
    for same in ["fa", "FA", "Fa"]:
        assert sign_in(app, same)[1].status_code == 403, same
    assert sign_in(app, "FA", key=claimed.json["key"])[1].json["worker"] == "ｆａ"
    assert ws.ledger.scalar("SELECT COUNT(*) FROM workers") == 1


def test_a_bookmarked_link_signs_in_without_the_access_code(ws: Workspace) -> None:
    app = create_app(ws, ServerPolicy(access_code=CODE))
    browser = app.test_client()
    claimed = browser.post(
        "/login", data={"csrf": csrf(browser), "worker": "ada", "access_code": CODE}
    )
    assert claimed.status_code == 302 and claimed.location.endswith("/welcome")
    page = browser.get("/welcome").data.decode()
    link = page.split('id="link" href="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    assert browser.get("/welcome").status_code == 302  # shown only once

    other = app.test_client()  # another browser, opening the bookmark
    query = urlsplit(link).query
    form = other.get(f"/login?{query}").data.decode()
    assert 'id="access_code"' not in form and "Continue as ada" in form
    params = {k: v[0] for k, v in parse_qs(query).items()}
    signed = other.post(
        "/login", data={"csrf": csrf(other), "worker": params["name"], "key": params["key"]}
    )
    assert signed.status_code == 302 and signed.location.endswith("/hit")
    assert other.get("/hit").status_code == 200


def test_invite_only_admits_invited_names_and_a_new_invite_ends_the_old_link(
    ws: Workspace,
) -> None:
    runner = CliRunner()
    result = runner.invoke(
        cli, ["-w", str(ws.root), "label", "invite", "Carol", "--url", "http://127.0.0.1:9"]
    )
    assert result.exit_code == 0, result.output
    link = result.stdout.strip()
    assert link.startswith("http://127.0.0.1:9/login?name=Carol&key=")
    key = parse_qs(urlsplit(link).query)["key"][0]

    app = create_app(ws, ServerPolicy(invite_only=True))
    refused = sign_in(app, "dave")[1]
    assert refused.status_code == 403 and "invited" in refused.json["error"]
    assert sign_in(app, "carol")[1].status_code == 403  # invited, but the key is needed
    carol, ok = sign_in(app, "carol", key=key)
    assert ok.status_code == 200 and ok.json["worker"] == "Carol"
    assert carol.get("/api/next").status_code == 204

    renewed = runner.invoke(cli, ["-w", str(ws.root), "label", "invite", "carol"])
    new_key = parse_qs(urlsplit(renewed.stdout.strip()).query)["key"][0]
    assert new_key != key
    assert carol.get("/api/next").status_code == 401  # the old session ended with its key
    assert sign_in(app, "carol", key=key)[1].status_code == 403
    assert sign_in(app, "carol", key=new_key)[1].status_code == 200


def test_an_excluded_labeler_loses_held_hits_and_cannot_submit(ws: Workspace) -> None:
    plan(ws, hits=1, assignments=1)
    app = create_app(ws)
    alice = sign_in(app, "alice")[0]
    held = alice.get("/api/next").json
    assert held is not None
    bob = sign_in(app, "bob")[0]
    assert bob.get("/api/next").status_code == 204  # the only slot is alice's
    with ws.ledger.transaction() as conn:  # what `beauty hits review` records for a spammer
        conn.execute("UPDATE workers SET excluded = 1 WHERE id = 'alice'")

    refused = submit(alice, held, ws)
    assert refused.status_code == 403 and "excluded" in refused.json["error"]
    assert ws.ledger.scalar("SELECT COUNT(*) FROM judgments") == 0
    again = sign_in(app, "alice2")[0]  # back under a new name
    assert submit(again, held, ws).status_code == 403
    assert alice.get("/api/next").status_code == 204

    taken = bob.get("/api/next").json  # alice's HIT went back to the pool
    assert taken is not None and taken["hit"] == held["hit"]
    assert submit(bob, taken, ws).status_code == 200
    states = dict(ws.ledger.query("SELECT worker_id, state FROM assignments"))
    assert states == {"alice": "abandoned", "bob": "submitted"}


def test_status_shows_a_labeler_their_own_figures_and_the_requester_everyones(
    ws: Workspace,
) -> None:
    plan(ws, hits=2, assignments=2)
    app = create_app(ws, ServerPolicy(admin_code=ADMIN))
    alice, bob = sign_in(app, "alice")[0], sign_in(app, "bob")[0]
    nxt = alice.get("/api/next").json
    assert submit(alice, nxt, ws).status_code == 200
    assert bob.get("/api/next").status_code == 200

    own = alice.get("/status").data.decode()
    assert "alice" in own and "bob" not in own and "Your assignments" in own
    assert "bob" not in app.test_client().get("/status").data.decode()

    wrong = bob.post("/status", data={"csrf": csrf(bob, "/status"), "admin_code": "guess"})
    assert wrong.status_code == 403 and "bob" in bob.get("/status").data.decode()
    assert "alice" not in bob.get("/status").data.decode()
    no_token = bob.post("/status", data={"admin_code": ADMIN})
    assert no_token.status_code == 403

    requester = app.test_client()
    unlocked = requester.post(
        "/status", data={"csrf": csrf(requester, "/status"), "admin_code": ADMIN}
    )
    assert unlocked.status_code == 302
    table = requester.get("/status").data.decode()
    assert "alice" in table and "bob" in table and "Labelers" in table
