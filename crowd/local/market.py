"""The local market's rules: who gets which HIT, when a hand-out lapses, whose answer counts.

Every decision that two labelers could race on (the last free slot of a HIT, a double submit)
is taken inside one short write transaction, which SQLite serialises (``BEGIN IMMEDIATE``).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from crowd.content import HitContent, hit_content
from crowd.submissions import store_submission
from crowd.tokens import new_token
from infra.ledger import Ledger, iso

Clock = Callable[[], datetime]

NAME = "local"  # this market's name in the market registry and in the ledger
# Open local batches only: the server never hands out, shows or accepts other markets' work.
LOCAL_HITS = (
    "SELECT h.id FROM hits h JOIN batches b ON b.id = h.batch_id "
    f"WHERE b.market = '{NAME}' AND b.state = 'open'"
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
    """The outcome of an accepted submission: parsed (``ok``) or stored with its parse error."""

    assignment_id: int
    ok: bool
    error: str | None
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
    """

    ledger: Ledger
    duration_s: int
    expert: bool = False
    clock: Clock = field(default=lambda: datetime.now(UTC))

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
            held = conn.execute(
                "SELECT id, hit_id, remote_id, deadline FROM assignments "
                f"WHERE worker_id = ? AND state = 'handed' AND hit_id IN ({LOCAL_HITS}) "
                "ORDER BY id LIMIT 1",
                (worker,),
            ).fetchone()
            if held is None:
                held = self._hand_out(conn, worker, now)
            if held is None:
                return None
            content = hit_content(self.ledger, int(held["hit_id"]))
        return Handout(int(held["id"]), str(held["remote_id"]), str(held["deadline"]), content)

    def _hand_out(self, conn: Any, worker: str, now: datetime) -> Any:
        hit = conn.execute(
            "SELECT h.id, b.assignments, "
            "  (SELECT COUNT(*) FROM assignments a WHERE a.hit_id = h.id "
            "   AND a.state != 'abandoned') AS taken "
            "FROM hits h JOIN batches b ON b.id = h.batch_id "
            "WHERE b.market = 'local' AND b.state = 'open' "
            "AND NOT EXISTS (SELECT 1 FROM assignments a WHERE a.hit_id = h.id "
            "  AND a.worker_id = ?) "
            "AND taken < b.assignments "
            # A batch offered to chosen workers goes to them alone.
            "AND (NOT EXISTS (SELECT 1 FROM batch_workers bw WHERE bw.batch_id = b.id) "
            "  OR EXISTS (SELECT 1 FROM batch_workers bw WHERE bw.batch_id = b.id "
            "  AND bw.worker_id = ?)) "
            # Fewest labelers first: every HIT gets one answer before any gets its last.
            "ORDER BY b.id, taken, h.position LIMIT 1",
            (worker, worker),
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
            f"AND hit_id IN ({LOCAL_HITS})",
            (now,),
        )

    def submit(self, worker: str, token: str, raw: str) -> Submitted:
        """Store a labeler's answer to the assignment ``token`` through the common answer path.

        Raises
        ------
        Refused
            404 for an unknown assignment, 403 for another labeler's or an excluded labeler's,
            409 for one already submitted or whose lapsed slot went to someone else. Nothing is
            stored then.
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
                raise Refused(403, "this HIT was handed to another labeler")
            if conn.execute(
                "SELECT 1 FROM workers WHERE id = ? AND excluded = 1", (worker,)
            ).fetchone():
                raise Refused(403, "you are excluded from this market's HITs")
            if row["state"] == "abandoned" and row["taken"] >= row["assignments"]:
                raise Refused(409, "this HIT expired and went to another labeler")
            if row["state"] not in ("handed", "abandoned"):
                raise Refused(409, "this HIT was already submitted")
            assignment_id = int(row["id"])
            # A late answer to a lapsed hand-out whose slot is still free is welcome; joining
            # this transaction makes the check and the store one step.
            outcome = store_submission(self.ledger, assignment_id, raw, "json")
            made = _expert_gold(conn, assignment_id, worker, now) if self.expert else 0
        return Submitted(assignment_id, outcome.ok, outcome.error, made)


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
