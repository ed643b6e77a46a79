"""How ledger rows are recognised on MTurk, and finding what a lost answer created.

Request tokens and HIT annotations derive from ledger ids, prefixed with this workspace's
namespace: one MTurk account may serve several workspaces, and a token reused across them would
make MTurk silently drop a second workspace's HIT or bonus as a duplicate.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from infra.ledger import Ledger, iso
from mturk.client import each

ANNOTATION_PREFIX = "beauty-crowd"


def namespace(ledger: Ledger) -> str:
    """This workspace's namespace: random hex made on first use, then fixed."""
    with ledger.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO mturk_namespace (id, value) VALUES (1, ?)",
            (secrets.token_hex(4),),
        )
    return str(ledger.scalar("SELECT value FROM mturk_namespace WHERE id = 1"))


def hit_annotation(ns: str, hit_id: int) -> str:
    """The RequesterAnnotation of our HIT ``hit_id``: opaque to workers, readable to us."""
    return f"{ANNOTATION_PREFIX}:{ns}:hit:{hit_id}"


def hit_request_token(ns: str, hit_id: int) -> str:
    return f"bc-{ns}-hit-{hit_id}"


def action_token(ns: str, kind: str, action_id: int) -> str:
    """The token of money action ``action_id`` (also MTurk's UniqueRequestToken for bonuses)."""
    return f"bc-{ns}-{kind}-{action_id}"


def find_hits(client: Any, annotations: Iterable[str]) -> dict[str, dict[str, Any]]:
    """The account's HITs carrying ``annotations``, by annotation (stops once all are found).

    MTurk forgets request tokens after 24 hours, but a HIT keeps its annotation for life, so
    this is how a HIT created by a call whose answer was lost is found again.
    """
    wanted = set(annotations)
    found: dict[str, dict[str, Any]] = {}
    if not wanted:
        return found
    for hit in each(client, "list_hits", "HITs"):
        annotation = hit.get("RequesterAnnotation")
        if annotation in wanted:
            found[annotation] = hit
            if len(found) == len(wanted):
                break
    return found


def record_posted(ledger: Ledger, hit_id: int, remote: dict[str, Any]) -> None:
    """The outcome of a HIT's creation: its MTurk id, status and expiry."""
    with ledger.transaction() as conn:
        conn.execute(
            "UPDATE hits SET post_state = 'posted', remote_id = ?, remote_status = ?, "
            "posted_at = ?, expires_at = ? WHERE id = ?",
            (
                remote["HITId"],
                remote.get("HITStatus"),
                iso(remote["CreationTime"]),
                iso(remote["Expiration"]),
                hit_id,
            ),
        )
