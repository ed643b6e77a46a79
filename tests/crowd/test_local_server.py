"""The local labeling server: hand-out, lapses, refusals, images, binding, concurrency."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from click.testing import CliRunner
from flask.testing import FlaskClient

from beauty.cli import cli
from crowd.answers import HitAnswer
from crowd.batches import BatchSpec, plan_batch
from crowd.content import hit_content
from crowd.local import (
    LocalMarket,
    MarketClient,
    MarketError,
    Refused,
    ServerOptions,
    ServerPolicy,
    create_app,
    market_status,
    start_server,
)
from crowd.local.adapter import LocalLabeling
from crowd.review import decide
from infra.ledger import Ledger, iso, migrations
from infra.workspace import Workspace
from tests.crowd.market_fixtures import FakeClock, answer_json, gallery_workspace, plan


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return gallery_workspace(tmp_path)


def market(ws: Workspace, clock: FakeClock | None = None, expert: bool = False) -> LocalMarket:
    m = LocalMarket(ws.ledger, ws.settings.mturk.assignment_duration_seconds, expert)
    if clock is not None:
        m.clock = clock
    return m


def login_form(client: FlaskClient, **fields: str) -> Any:
    """Post the sign-in form as a browser does: with the token of the page it came from."""
    page = client.get("/login").data.decode()
    csrf = page.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    return client.post("/login", data={"csrf": csrf, **fields})


def signed_in(app: Any, worker: str, code: str | None = None) -> FlaskClient:
    client: FlaskClient = app.test_client()
    response = client.post("/api/session", json={"worker": worker, "access_code": code})
    assert response.status_code == 200, response.json
    return client


def submit(client: FlaskClient, nxt: dict[str, Any], ws: Workspace) -> Any:
    hit = ws.ledger.scalar(
        "SELECT hit_id FROM assignments WHERE remote_id = ?", (nxt["assignment"],)
    )
    return client.post(
        nxt["submit_url"],
        data=answer_json(hit_content(ws.ledger, hit)),
        content_type="application/json",
    )


def test_hand_out_respects_assignments_and_never_repeats_a_hit(ws: Workspace) -> None:
    plan(ws, hits=3, assignments=2)
    m = market(ws)
    done: dict[str, list[int]] = {}
    for worker in ["w1", "w2", "w3", "w4"]:
        m.sign_in(worker)
        done[worker] = []
        while (handout := m.next_hit(worker)) is not None:
            assert len(done[worker]) < 3, "more HITs than the batch holds"
            done[worker].append(handout.content.hit_id)
            m.submit(worker, handout.token, answer_json(handout.content))
    per_hit = Counter(h for hits in done.values() for h in hits)
    assert all(len(set(hits)) == len(hits) for hits in done.values())
    assert sorted(per_hit.values()) == [2, 2, 2]
    assert ws.ledger.scalar("SELECT COUNT(*) FROM assignments WHERE state = 'submitted'") == 6


def test_a_trusted_batch_goes_only_to_its_workers(ws: Workspace) -> None:
    m = market(ws)
    for worker in ["ann", "bob", "cy", "dee"]:
        m.sign_in(worker)
    pd.DataFrame(
        {"worker": ["ann", "bob", "cy", "dee"], "reliability": [0.2, 1.9, 1.4, 0.0]}
    ).to_csv(ws.tables_dir / "reliability.csv", index=False)
    spec = BatchSpec.from_settings(
        ws.settings, design="pairwise", market="local", hits=2, gold_rate=0.0, assignments=1,
        reward=Decimal("0.05"), trusted=0.5,
    )  # fmt: skip
    plan_batch(ws, spec)
    assert m.next_hit("ann") is None and m.next_hit("dee") is None
    got = {w: m.next_hit(w) for w in ["bob", "cy"]}
    assert all(h is not None for h in got.values())


def test_a_labeler_holds_one_hit_at_a_time(ws: Workspace) -> None:
    plan(ws, hits=3, assignments=1)
    m = market(ws)
    m.sign_in("w1")
    first, again = m.next_hit("w1"), m.next_hit("w1")
    assert first is not None and again is not None
    assert again.token == first.token
    assert ws.ledger.scalar("SELECT COUNT(*) FROM assignments") == 1


def test_abandoned_hand_out_returns_to_the_pool(ws: Workspace) -> None:
    plan(ws, hits=1, assignments=1)
    clock = FakeClock()
    m = market(ws, clock)
    for w in ("closed-tab", "patient"):
        m.sign_in(w)
    lost = m.next_hit("closed-tab")
    assert lost is not None
    assert m.next_hit("patient") is None  # the only slot is taken
    clock.advance(ws.settings.mturk.assignment_duration_seconds + 1)
    taken = m.next_hit("patient")
    assert taken is not None and taken.content.hit_id == lost.content.hit_id
    states = {r[0]: r[1] for r in ws.ledger.query("SELECT worker_id, state FROM assignments")}
    assert states == {"closed-tab": "abandoned", "patient": "handed"}
    with pytest.raises(Refused) as late:
        m.submit("closed-tab", lost.token, answer_json(lost.content))
    assert late.value.status == 409
    m.submit("patient", taken.token, answer_json(taken.content))


def test_a_late_answer_counts_while_its_slot_is_free(ws: Workspace) -> None:
    plan(ws, hits=1, assignments=1)
    clock = FakeClock()
    m = market(ws, clock)
    m.sign_in("slow")
    handout = m.next_hit("slow")
    assert handout is not None
    clock.advance(ws.settings.mturk.assignment_duration_seconds + 60)
    m.submit("slow", handout.token, answer_json(handout.content))
    assert ws.ledger.scalar("SELECT state FROM assignments") == "submitted"


def test_forged_foreign_and_double_submissions_are_refused(ws: Workspace) -> None:
    plan(ws, hits=2, assignments=1)
    app = create_app(ws)
    alice, mallory = signed_in(app, "alice"), signed_in(app, "mallory")
    nxt = alice.get("/api/next").json
    assert nxt is not None
    assert submit(alice, nxt, ws).status_code == 200
    kept = ws.ledger.one("SELECT raw_answer, state FROM assignments WHERE worker_id = 'alice'")
    judgments = ws.ledger.scalar("SELECT COUNT(*) FROM judgments")

    assert submit(alice, nxt, ws).status_code == 409  # double
    assert submit(mallory, nxt, ws).status_code == 403  # foreign
    forged = dict(nxt, submit_url="/api/submit?assignment=AAAAAAAAAAAAAAAA")
    assert submit(alice, forged, ws).status_code == 404
    anonymous = app.test_client()
    assert submit(anonymous, nxt, ws).status_code == 401
    not_json = alice.post(nxt["submit_url"], data="x", content_type="text/plain")
    assert not_json.status_code == 415

    after = ws.ledger.one("SELECT raw_answer, state FROM assignments WHERE worker_id = 'alice'")
    assert after is not None and kept is not None and tuple(after) == tuple(kept)
    assert ws.ledger.scalar("SELECT COUNT(*) FROM judgments") == judgments
    assert ws.ledger.scalar("SELECT COUNT(*) FROM assignments") == 1


def test_a_refused_answer_keeps_the_assignment_open_for_a_corrected_one(ws: Workspace) -> None:
    batch = plan(ws, hits=1, assignments=1, screens_per_hit=2)
    with start_server(ws) as server:
        client = MarketClient(server.url, timeout=10)
        client.sign_in("alice")
        hit = client.next_hit()
        assert hit is not None
        first = hit.screens[0].token
        half = HitAnswer.model_validate(
            {"hit": hit.hit, "screens": [{"screen": first, "selected": [], "seconds": 1.0}]}
        )
        with pytest.raises(MarketError) as refused:
            client.submit(hit, half)
        assert refused.value.status == 422, "an unreadable answer must be a client error"
        assert "unanswered" in str(refused.value), "the refusal must say what is wrong"

        row = ws.ledger.one("SELECT state, raw_answer, parse_state FROM assignments")
        assert row is not None and tuple(row) == ("handed", None, "pending"), tuple(row or ())
        assert ws.ledger.scalar("SELECT COUNT(*) FROM judgments") == 0
        evidence = ws.ledger.one("SELECT raw_answer, error FROM refused_answers")
        assert evidence is not None, "the refused body must be kept as evidence"
        assert json.loads(evidence["raw_answer"])["screens"][0]["screen"] == first
        assert "unanswered" in evidence["error"]
        assert decide(ws.ledger, ws.settings.review) == [], "review must not judge a refusal"
        assert "0 of 1 assignments (0%)" in client.get("/status").decode()

        again = client.next_hit()
        assert again is not None and again.assignment == hit.assignment, "slot not kept open"
        content = hit_content(ws.ledger, int(ws.ledger.scalar("SELECT hit_id FROM assignments")))
        reply = client.submit(hit, HitAnswer.model_validate_json(answer_json(content)))
        assert reply.next == "/hit"
        page = client.get("/status").decode()
        assert "1 of 1 assignments (100%)" in page and ">done<" in page, page
        client.close()
    row = ws.ledger.one("SELECT state, parse_state FROM assignments")
    assert row is not None and tuple(row) == ("submitted", "ok"), tuple(row or ())
    assert ws.ledger.scalar("SELECT COUNT(*) FROM judgments") == 2
    assert ws.ledger.scalar("SELECT COUNT(*) FROM refused_answers") == 1
    assert ws.ledger.scalar("SELECT state FROM batches WHERE id = ?", (batch,)) == "done"
    (verdict,) = decide(ws.ledger, ws.settings.review)
    assert "could not be read" not in verdict.reason, verdict.reason


def test_images_are_served_by_token_only_to_their_labeler(ws: Workspace) -> None:
    plan(ws, hits=2, assignments=1)
    app = create_app(ws)
    alice, bob = signed_in(app, "alice"), signed_in(app, "bob")
    nxt = alice.get("/api/next").json
    assert nxt is not None
    url = nxt["screens"][0]["images"][0]["url"]
    token = nxt["screens"][0]["images"][0]["token"]
    image = ws.ledger.one(
        "SELECT i.uri FROM screen_images si JOIN images i ON i.id = si.image_id WHERE si.token = ?",
        (token,),
    )
    assert image is not None
    served = alice.get(url)
    assert served.status_code == 200 and served.mimetype == "image/jpeg"
    assert served.data == Path(image["uri"]).read_bytes()
    assert bob.get(url).status_code == 404  # not a HIT handed to bob
    assert app.test_client().get(url).status_code == 401
    for probe in [
        "/img/../beauty.db",
        "/img/..%2fbeauty.db",
        "/img/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/img/" + str(ws.ledger_path),
        "/img/",
        "/img",
    ]:
        response = alice.get(probe)
        assert response.status_code in (401, 404), probe
        assert b"SQLite" not in response.data


def test_sign_in_checks_the_access_code_and_escapes_names(ws: Workspace) -> None:
    plan(ws, hits=1, assignments=1)
    code = "s3cret-s3cret"
    app = create_app(ws, ServerPolicy(access_code=code))
    client = app.test_client()
    assert client.post("/api/session", json={"worker": "eve"}).status_code == 403
    for bad_name in ["  ", "tab\there", "x" * 65]:
        refused = client.post("/api/session", json={"worker": bad_name, "access_code": code})
        assert refused.status_code == 400, bad_name
    bad = login_form(client, worker="eve", access_code="guess")
    assert bad.status_code == 403 and b"wrong access code" in bad.data
    assert b"<table>" not in client.get("/status").data  # progress needs a signed-in labeler
    name = "<script>alert(1)</script>"
    ok = login_form(client, worker=name, access_code=code)
    assert ok.status_code == 302
    assert client.get("/hit").status_code == 200
    page = client.get("/status").data.decode()
    assert name not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page


def test_only_open_local_batches_are_served(ws: Workspace) -> None:
    plan(ws, hits=2, assignments=1, market="mturk")
    closed = plan(ws, hits=2, assignments=1)
    with ws.ledger.transaction() as conn:
        conn.execute("UPDATE batches SET state = 'closed' WHERE id = ?", (closed,))
    m = market(ws)
    m.sign_in("w1")
    assert m.next_hit("w1") is None
    open_batch = plan(ws, hits=1, assignments=1)
    handout = m.next_hit("w1")
    assert handout is not None
    batch = ws.ledger.scalar("SELECT batch_id FROM hits WHERE id = ?", (handout.content.hit_id,))
    assert batch == open_batch


def test_expert_answers_become_gold(ws: Workspace) -> None:
    plan(ws, hits=1, assignments=1, screens_per_hit=3)
    with start_server(ws, ServerOptions(expert=True)) as server:
        assert server.codes.access is not None  # expert mode always asks for a code
    m = market(ws, expert=True)
    m.sign_in("curator")
    handout = m.next_hit("curator")
    assert handout is not None
    ties = handout.content.screens[0].token

    def choose(screen: Any) -> list[str]:
        return [] if screen.token == ties else [screen.images[1][0]]

    result = m.submit("curator", handout.token, answer_json(handout.content, choose))
    assert result.gold_made == 2  # "no preference" makes no gold
    gold = ws.ledger.query("SELECT * FROM gold_items ORDER BY id")
    shown = {s.token: [i for _, i in s.images] for s in handout.content.screens}
    expected = [(v[1], v[0]) for k, v in shown.items() if k != ties]
    got = [(json.loads(g["must_keep"])[0], json.loads(g["must_drop"])[0]) for g in gold]
    assert sorted(got) == sorted(expected)
    assert {(g["source"], g["kind"], g["author"]) for g in gold} == {("expert", "pair", "curator")}
    assert ws.ledger.scalar("SELECT expert FROM workers WHERE id = 'curator'") == 1


def test_expert_fourup_keeps_the_selected_and_drops_the_rest(ws: Workspace) -> None:
    plan(ws, hits=1, assignments=1, screens_per_hit=1, design="fourup")
    m = market(ws, expert=True)
    m.sign_in("curator")
    handout = m.next_hit("curator")
    assert handout is not None
    screen = handout.content.screens[0]
    picked = [screen.images[0], screen.images[2]]
    result = m.submit(
        "curator", handout.token, answer_json(handout.content, lambda s: [t for t, _ in picked])
    )
    assert result.gold_made == 1
    gold = ws.ledger.one("SELECT must_keep, must_drop FROM gold_items")
    assert gold is not None
    assert json.loads(gold["must_keep"]) == [i for _, i in picked]
    assert json.loads(gold["must_drop"]) == [screen.images[1][1], screen.images[3][1]]


def test_concurrent_labelers_get_exactly_one_assignment_per_submit(ws: Workspace) -> None:
    plan(ws, hits=30, assignments=2, screens_per_hit=1)
    accepted: Counter[str] = Counter()
    errors: list[BaseException] = []
    with start_server(ws) as server:

        def labeler(name: str) -> None:
            client = MarketClient(server.url)
            try:
                client.sign_in(name)
                for _ in range(31):
                    nxt = client.next_hit()
                    if nxt is None:
                        return
                    hit = ws.ledger.scalar("SELECT id FROM hits WHERE token = ?", (nxt.hit,))
                    raw = answer_json(hit_content(ws.ledger, hit))
                    client.submit(nxt, HitAnswer.model_validate_json(raw))
                    accepted[name] += 1
            except BaseException as exc:  # reported below: a thread must not fail silently
                errors.append(exc)
            finally:
                client.close()
                ws.ledger.close()

        threads = [threading.Thread(target=labeler, args=(f"w{i}",)) for i in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
    assert not errors
    submitted = ws.ledger.query(
        "SELECT worker_id, COUNT(*) AS n FROM assignments WHERE state = 'submitted' "
        "AND parse_state = 'ok' GROUP BY worker_id"
    )
    assert {r["worker_id"]: r["n"] for r in submitted} == dict(accepted)
    assert sum(accepted.values()) == 60
    assert ws.ledger.scalar("SELECT COUNT(*) FROM judgments") == 60
    assert (
        ws.ledger.scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM assignments GROUP BY hit_id, worker_id "
            "HAVING COUNT(*) > 1)"
        )
        == 0
    )


def test_racing_submits_of_one_assignment_store_it_once(ws: Workspace) -> None:
    plan(ws, hits=1, assignments=1)
    with start_server(ws) as server:
        first = MarketClient(server.url)
        key = first.sign_in("alice").key
        nxt = first.next_hit()
        assert nxt is not None
        content = hit_content(ws.ledger, ws.ledger.scalar("SELECT id FROM hits"))
        answer = HitAnswer.model_validate_json(answer_json(content))
        outcomes: list[int] = []
        barrier = threading.Barrier(10)

        def race() -> None:
            client = MarketClient(server.url)
            client.sign_in("alice", key=key)  # the same labeler in ten tabs
            barrier.wait()
            try:
                client.submit(nxt, answer)
                outcomes.append(200)
            except MarketError as exc:
                outcomes.append(exc.status)
            finally:
                client.close()

        threads = [threading.Thread(target=race) for _ in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=30)
        first.close()
    assert sorted(outcomes) == [200] + [409] * 9
    assert ws.ledger.scalar("SELECT COUNT(*) FROM judgments") == len(content.screens)


def test_status_counts_progress_per_batch_and_labeler(ws: Workspace) -> None:
    plan(ws, hits=2, assignments=2)
    clock = FakeClock()
    app = create_app(ws, clock=clock)
    alice, bob = signed_in(app, "alice"), signed_in(app, "bob")
    nxt = alice.get("/api/next").json
    assert nxt is not None and submit(alice, nxt, ws).status_code == 200
    assert bob.get("/api/next").status_code == 200
    clock.advance(ws.settings.mturk.assignment_duration_seconds + 1)  # bob closed the tab
    status = market_status(ws.ledger, iso(clock()))
    (batch,) = status.batches
    assert (batch["wanted"], batch["submitted"], batch["handed"], batch["abandoned"]) == (
        4,
        1,
        0,
        1,
    )
    assert batch["percent"] == 25
    people = {w["labeler"]: (w["submitted"], w["abandoned"]) for w in status.labelers}
    assert people == {"alice": (1, 0), "bob": (0, 1)}
    page = alice.get("/status").data.decode()
    assert "alice" in page and "1 of 4 assignments (25%)" in page, "numbers beside the bar"
    assert "bob" not in page  # a labeler sees their own figures only


def test_a_server_for_chosen_batches_hands_out_those_alone(ws: Workspace) -> None:
    first, second, third = (plan(ws, hits=1, assignments=1) for _ in range(3))
    app = create_app(ws, batches=(third, first))
    served = set()
    for worker in ("ada", "bea", "cy"):
        client = signed_in(app, worker)
        nxt = client.get("/api/next").json
        if nxt is not None:
            served.add(ws.ledger.scalar(
                "SELECT h.batch_id FROM assignments a JOIN hits h ON h.id = a.hit_id "
                "WHERE a.remote_id = ?", (nxt["assignment"],)
            ))  # fmt: skip
    assert served == {first, third}, f"batch {second} was not chosen, yet handed out"


def test_serve_batch_names_what_it_serves_and_refuses_what_it_cannot(ws: Workspace) -> None:
    chosen = plan(ws, hits=1, assignments=1)
    other = plan(ws, hits=1, assignments=1)
    mturk = plan(ws, hits=1, assignments=1, market="mturk")
    serve = ["-w", str(ws.root), "label", "serve", "--port", "0"]
    closed = plan(ws, hits=1, assignments=1)
    LocalLabeling().close(ws, [closed])
    for batch, why in [(99, "no batch 99"), (mturk, "not a local one"), (closed, "is closed")]:
        refused = CliRunner().invoke(cli, [*serve, "--batch", str(chosen), "--batch", str(batch)])
        assert refused.exit_code == 1 and why in refused.stderr, refused.stderr
        assert refused.stderr.count("\n") == 1, refused.stderr
    proc = subprocess.Popen(
        [sys.executable, "-m", "beauty", *serve, "--batch", str(chosen)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(" at ", 1)[1].split()[0]
        said = [proc.stdout.readline().strip() for _ in range(2)]  # a requester's code first
        assert said[-1] == f"handing out batch(es) {chosen}", said
        client = MarketClient(url, timeout=10)
        client.sign_in("ada")
        hit = client.next_hit()
        assert hit is not None and client.next_hit() is not None  # held, not a second one
        batch = ws.ledger.scalar(
            "SELECT h.batch_id FROM assignments a JOIN hits h ON h.id = a.hit_id "
            "WHERE a.remote_id = ?",
            (hit.assignment,),
        )
        assert batch == chosen, f"asked for batch {chosen}, got {batch} (not {other})"
        client.close()
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)


def test_migrating_reopens_unreadable_local_answers_and_finishes_full_batches(
    tmp_path: Path,
) -> None:
    path = tmp_path / "beauty.db"
    conn = sqlite3.connect(path)
    for version, _, sql in migrations()[:9]:  # a ledger from before refusals and 'done'
        conn.executescript(sql)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.execute("INSERT INTO workers (id, market, first_seen) VALUES ('ann', 'local', 't')")
    for batch, hits in ((1, 2), (2, 1)):
        conn.execute(
            "INSERT INTO batches (id, market, design, screens_per_hit, assignments, "
            "reward_cents, gold_rate, created_at) VALUES (?, 'local', 'pairwise', 1, 1, 0, 0, 't')",
            (batch,),
        )
        for position in range(hits):
            conn.execute(
                "INSERT INTO hits (batch_id, position, token) VALUES (?, ?, ?)",
                (batch, position, f"h{batch}{position}"),
            )
    answers = [(1, "ok", None), (2, "failed", "1 screen(s) unanswered"), (3, "ok", None)]
    for hit, parsed, error in answers:
        conn.execute(
            "INSERT INTO assignments (hit_id, worker_id, remote_id, state, submitted_at, "
            "raw_answer, raw_format, parse_state, parse_error) "
            "VALUES (?, 'ann', ?, 'submitted', 't', ?, 'json', ?, ?)",
            (hit, f"a{hit}", f'{{"hit": "h{hit}"}}', parsed, error),
        )
    conn.commit()
    conn.close()

    ledger = Ledger(path)
    states = {r[0]: r[1] for r in ledger.query("SELECT id, state FROM batches")}
    assert states == {1: "open", 2: "done"}, f"batch 1 lost an answer, batch 2 is full: {states}"
    row = ledger.one("SELECT state, raw_answer, parse_state FROM assignments WHERE id = 2")
    assert row is not None and tuple(row) == ("abandoned", None, "pending"), tuple(row or ())
    evidence = ledger.one("SELECT assignment_id, raw_answer, error FROM refused_answers")
    assert evidence is not None
    assert tuple(evidence) == (2, '{"hit": "h2"}', "1 screen(s) unanswered")
