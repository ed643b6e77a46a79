"""The local market's rules: who gets which HIT, when a hand-out lapses, whose answer counts.

Every decision that two labelers could race on (the last free slot of a HIT, a double submit)
is taken inside one short write transaction, which SQLite serialises (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crowd.batches import batch_filter
from crowd.content import HitContent, hit_content
from crowd.submissions import store_submission
from crowd.tokens import new_token
from infra.errors import BeautyError
from infra.ledger import Ledger, iso

Clock = Callable[[], datetime]

NAME = "local"  # this market's name in the market registry and in the ledger
# Open local batches only: the server never hands out or shows other markets' work.
OPEN_LOCAL = f"b.market = '{NAME}' AND b.state = 'open'"


def check_served(ledger: Ledger, batch_ids: Sequence[int]) -> None:
    """Make sure the server can hand out each of ``batch_ids``: open, local batches.

    Raises
    ------
    BeautyError
        The first batch that does not exist, belongs to another market or is not open.
    """
    for batch_id in batch_ids:
        row = ledger.one("SELECT market, state FROM batches WHERE id = ?", (batch_id,))
        if row is None:
            raise BeautyError(f"no batch {batch_id}: see `beauty hits list`")
        if row["market"] != NAME:
            raise BeautyError(
                f"batch {batch_id} is a {row['market']} batch, not a local one: "
                f"`beauty hits post {batch_id}` puts it before its workers"
            )
        if row["state"] != "open":
            raise BeautyError(
                f"batch {batch_id} is {row['state']}: it has nothing to hand out; "
                "plan another with `beauty hits plan --market local`"
            )


class Refused(Exception):
    """A request the market turns down; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class Handout:
    """A HIT handed to one labeler: the assignment's opaque token and what the HIT shows."""

    assignment_id: int
    token: str
    deadline: str
    content: HitContent


@dataclass(frozen=True)
class Submitted:
    """An accepted, readable answer, and how many gold items it made (expert servers)."""

    assignment_id: int
    gold_made: int = 0


@dataclass
class LocalMarket:
    """Hand-out and submission over the ledger's open local batches.

    Parameters
    ----------
    ledger : Ledger
        The workspace ledger (one connection per thread).
    duration_s : int
        How long a hand-out is held for its labeler before it returns to the pool.
    expert : bool
        Whether answers become gold items (source ``expert``).
    clock : callable
        Now, as an aware datetime.
    batches : tuple of int
        The batches handed out (empty: every open local batch).
    """

    ledger: Ledger
    duration_s: int
    expert: bool = False
    clock: Clock = field(default=lambda: datetime.now(UTC))
    batches: tuple[int, ...] = ()

    def served_hits(self) -> tuple[str, tuple[int, ...]]:
        """SQL selecting the ids of the HITs this market hands out, and its parameters."""
        where, params = batch_filter(self.batches or None)
        return (
            f"SELECT h.id FROM hits h JOIN batches b ON b.id = h.batch_id WHERE {OPEN_LOCAL} "
            f"{where}",
            params,
        )

    def sign_in(self, worker: str) -> None:
        """Register a labeler (idempotent); on an expert server the labeler becomes an expert."""
        with self.ledger.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO workers (id, market, first_seen) VALUES (?, ?, ?)",
                (worker, NAME, iso(self.clock())),
            )
            if self.expert:
                conn.execute("UPDATE workers SET expert = 1 WHERE id = ?", (worker,))

    def next_hit(self, worker: str) -> Handout | None:
        """The labeler's current HIT, or a new one they have not done; None when none is left.

        A HIT goes to at most ``assignments`` labelers at once (lapsed hand-outs free their slot)
        and never twice to the same labeler; a batch offered to chosen workers goes to them
        alone. Excluded labelers get nothing.
        """
        now = self.clock()
        with self.ledger.transaction() as conn:
            self._expire(conn, iso(now))
            row = conn.execute("SELECT excluded FROM workers WHERE id = ?", (worker,)).fetchone()
            if row is None or row["excluded"]:
                return None
            served, params = self.served_hits()
            held = conn.execute(
                "SELECT id, hit_id, remote_id, deadline FROM assignments "
                f"WHERE worker_id = ? AND state = 'handed' AND hit_id IN ({served}) "
                "ORDER BY id LIMIT 1",
                (worker, *params),
            ).fetchone()
            if held is None:
                held = self._hand_out(conn, worker, now)
            if held is None:
                return None
            content = hit_content(self.ledger, int(held["hit_id"]))
        return Handout(int(held["id"]), str(held["remote_id"]), str(held["deadline"]), content)

    def _hand_out(self, conn: Any, worker: str, now: datetime) -> Any:
        where, params = batch_filter(self.batches or None)
        hit = conn.execute(
            "SELECT h.id, b.assignments, "
            "  (SELECT COUNT(*) FROM assignments a WHERE a.hit_id = h.id "
            "   AND a.state != 'abandoned') AS taken "
            "FROM hits h JOIN batches b ON b.id = h.batch_id "
            f"WHERE {OPEN_LOCAL} {where}"
            "AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.hit_id = h.id "
            "  AND a.worker_id = ?) "
            "AND taken < b.assignments "
            # A batch offered to chosen workers goes to them alone.
            "AND (NOT EXISTS (SELECT 1 FROM batch_workers bw WHERE bw.batch_id = b.id) "
            "  OR EXISTS (SELECT 1 FROM batch_workers bw WHERE bw.batch_id = b.id "
            "  AND bw.worker_id = ?)) "
            # Fewest labelers first: every HIT gets one answer before any gets its last.
            "ORDER BY b.id, taken, h.position LIMIT 1",
            (*params, worker, worker),
        ).fetchone()
        if hit is None:
            return None
        token = new_token()
        deadline = iso(now + timedelta(seconds=self.duration_s))
        cursor = conn.execute(
            "INSERT INTO assignments (hit_id, worker_id, remote_id, state, handed_at, deadline) "
            "VALUES (?, ?, ?, 'handed', ?, ?)",
            (hit["id"], worker, token, iso(now), deadline),
        )
        return {
            "id": cursor.lastrowid,
            "hit_id": hit["id"],
            "remote_id": token,
            "deadline": deadline,
        }

    def _expire(self, conn: Any, now: str) -> None:
        """Hand-outs past their deadline, and those held by excluded labelers, return to the
        pool."""
        conn.execute(
            "UPDATE assignments SET state = 'abandoned' WHERE state = 'handed' "
            "AND (deadline < ? OR worker_id IN (SELECT id FROM workers WHERE excluded = 1)) "
            "AND hit_id IN (SELECT h.id FROM hits h JOIN batches b ON b.id = h.batch_id "
            f"WHERE {OPEN_LOCAL})",
            (now,),
        )

    def submit(self, worker: str, token: str, raw: str) -> Submitted:
        """Store a labeler's answer to the assignment ``token`` through the common answer path.

        An answer to an assignment of a batch closed meanwhile still counts: closing stops
        hand-outs, not work in progress.

        Raises
        ------
        Refused
            404 for an unknown assignment, 403 for another labeler's or an excluded labeler's,
            409 for one already submitted or whose lapsed slot went to someone else: nothing is
            stored then. 422 for an answer that fails the checks (the reason says which): it is
            kept as evidence only, and the assignment stays open for a corrected answer.
        """
        now = iso(self.clock())
        with self.ledger.transaction() as conn:
            self._expire(conn, now)
            row = conn.execute(
                "SELECT a.id, a.worker_id, a.state, a.hit_id, b.assignments, "
                "  (SELECT COUNT(*) FROM assignments o WHERE o.hit_id = a.hit_id "
                "   AND o.state != 'abandoned') AS taken "
                "FROM assignments a JOIN hits h ON h.id = a.hit_id "
                "JOIN batches b ON b.id = h.batch_id "
                "WHERE a.remote_id = ? AND b.market = 'local'",
                (token,),
            ).fetchone()
            if row is None:
                raise Refused(404, "no such assignment on this server; ask for the next HIT")
            if row["worker_id"] != worker:
                raise Refused(403, "this assignment was handed to another labeler")
            if conn.execute(
                "SELECT 1 FROM workers WHERE id = ? AND excluded = 1", (worker,)
            ).fetchone():
                raise Refused(403, "you are excluded from this market's HITs")
            if row["state"] == "abandoned" and row["taken"] >= row["assignments"]:
                raise Refused(409, "this assignment expired and its HIT went to another labeler")
            if row["state"] not in ("handed", "abandoned"):
                raise Refused(409, "this assignment was already submitted")
            assignment_id = int(row["id"])
            # A late answer to a lapsed hand-out whose slot is still free is welcome; joining
            # this transaction makes the check and the store one step.
            outcome = store_submission(
                self.ledger, assignment_id, raw, "json", refuse_unreadable=True
            )
            made = 0
            if self.expert and outcome.ok:
                made = _expert_gold(conn, assignment_id, worker, now)
        if outcome.refused:  # after the commit: the refused body stays as evidence
            raise Refused(422, f"unreadable answer: {outcome.error}")
        return Submitted(assignment_id, made)


def _expert_gold(conn: Any, assignment_id: int, author: str, now: str) -> int:
    """Turn an expert's answers to ordinary screens into gold items; returns how many.

    A pair's winner must be kept and its loser dropped ("no preference" makes no gold); on a
    4-up set the selected photos must be kept and the others dropped. A screen that could not
    load makes none.
    """
    rows = conn.execute(
        "SELECT s.kind, j.selected, "
        "  (SELECT json_group_array(image_id) FROM (SELECT image_id FROM screen_images si "
        "   WHERE si.screen_id = s.id ORDER BY si.position)) AS shown "
        "FROM judgments j JOIN screens s ON s.id = j.screen_id "
        "WHERE j.assignment_id = ? AND s.gold_id IS NULL AND j.could_not_load = 0 "
        "ORDER BY s.position",
        (assignment_id,),
    ).fetchall()
    made = 0
    for row in rows:
        shown, selected = json.loads(row["shown"]), json.loads(row["selected"])
        if row["kind"] == "pair" and len(selected) != 1:
            continue
        keep = [i for i in shown if i in selected]
        drop = [i for i in shown if i not in selected]
        conn.execute(
            "INSERT INTO gold_items (kind, source, images, must_keep, must_drop, author, "
            "created_at) VALUES (?, 'expert', ?, ?, ?, ?, ?)",
            (row["kind"], json.dumps(shown), json.dumps(keep), json.dumps(drop), author, now),
        )
        made += 1
    return made
