"""Who a labeler is on the local market: a name claimed once, then proven with its key.

A name is claimed by its first sign-in, or given by ``beauty label invite``; either issues a
random key, shown once (as a link to bookmark). Later sign-ins under the name need the key, so
a second client cannot become "bob" by typing "bob". The ledger keeps only the key's SHA-256:
a copy of ``beauty.db`` signs nobody in. Names are compared after NFKC and case folding, so
"ｆａ", "fa" and "FA" are one labeler, shown as first typed.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import sqlite3
import unicodedata
from dataclasses import dataclass

from crowd.local.market import Refused
from infra.ledger import Ledger

KEY_BYTES = 16  # 128 random bits: a key is never guessed, so a fast hash is enough
MARKET = "local"
WRONG_CODE = "wrong access code; ask whoever runs this server for it"


class BadSecret(Refused):
    """A sign-in refused for a wrong access code or key: it counts against the client's
    budget of failed sign-ins."""

    def __init__(self, message: str) -> None:
        super().__init__(403, message)


@dataclass(frozen=True)
class Identity:
    """A signed-in labeler: the worker id, the fingerprint of the key that proved it (a session
    holds while the key does), and the key this sign-in issued, if it claimed the name."""

    worker: str
    fingerprint: str
    new_key: str | None = None


def name_key(name: str) -> str:
    """The form names are compared in: NFKC, case folded, NFKC again (Unicode's caseless match)."""
    return unicodedata.normalize("NFKC", unicodedata.normalize("NFKC", name.strip()).casefold())


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def fingerprint(hashed: str) -> str:
    return hashed[:16]


def sign_in(
    ledger: Ledger, name: str, key: str | None, *, code_ok: bool, invite_only: bool, now: str
) -> Identity:
    """The labeler ``name`` proven by ``key``, or a new claim of an unclaimed name.

    ``code_ok`` says whether the request carried the server's access code (or the server has
    none); a claimed name's key stands in for it, a claim needs it.

    Raises
    ------
    BadSecret
        A wrong access code, a claimed name without its key or with a wrong one, or (invite-only)
        a name not invited.
    Refused
        400 for a name that is empty once normalised, 409 for another market's worker id.
    """
    wanted = name_key(name)
    if not wanted:
        raise Refused(400, "name: type at least one letter or digit")
    with ledger.transaction() as conn:
        row = conn.execute(
            "SELECT worker_id, key_hash, invited FROM labelers WHERE name_key = ?", (wanted,)
        ).fetchone()
        if row is None or (invite_only and not row["invited"]):
            if invite_only:
                raise BadSecret(
                    "this server admits invited labelers only: open the link you were given"
                )
            if not code_ok:
                raise BadSecret(WRONG_CODE)
            return _claim(conn, name.strip(), wanted, now, invited=False)
        if key is not None and hmac.compare_digest(key_hash(key), row["key_hash"]):
            return Identity(str(row["worker_id"]), fingerprint(row["key_hash"]))
        if key is not None:
            raise BadSecret(
                "this sign-in link is wrong or was replaced by a newer one: ask whoever runs "
                "this server for a new one"
            )
        if not code_ok:
            raise BadSecret(WRONG_CODE)
        raise BadSecret(
            f"the name {row['worker_id']} is taken: sign in with its link, or ask whoever runs "
            "this server for a new one"
        )


def invite(ledger: Ledger, name: str, now: str) -> Identity:
    """Give ``name`` a new key (claiming it if new); old links and sessions for it stop working."""
    wanted = name_key(name)
    if not wanted:
        raise Refused(400, "name: type at least one letter or digit")
    with ledger.transaction() as conn:
        row = conn.execute(
            "SELECT worker_id FROM labelers WHERE name_key = ?", (wanted,)
        ).fetchone()
        if row is None:
            return _claim(conn, name.strip(), wanted, now, invited=True)
        key = secrets.token_urlsafe(KEY_BYTES)
        hashed = key_hash(key)
        conn.execute(
            "UPDATE labelers SET key_hash = ?, invited = 1, key_issued_at = ? WHERE name_key = ?",
            (hashed, now, wanted),
        )
        return Identity(str(row["worker_id"]), fingerprint(hashed), key)


def still_valid(ledger: Ledger, worker: str, print_: str) -> bool:
    """Whether a session made with the key of fingerprint ``print_`` still stands for ``worker``."""
    hashed = ledger.scalar("SELECT key_hash FROM labelers WHERE worker_id = ?", (worker,))
    return isinstance(hashed, str) and hmac.compare_digest(fingerprint(hashed), print_)


def _claim(conn: sqlite3.Connection, name: str, wanted: str, now: str, invited: bool) -> Identity:
    worker = _worker_for(conn, name, wanted)
    key = secrets.token_urlsafe(KEY_BYTES)
    hashed = key_hash(key)
    conn.execute(
        "INSERT OR IGNORE INTO workers (id, market, first_seen) VALUES (?, ?, ?)",
        (worker, MARKET, now),
    )
    conn.execute(
        "INSERT INTO labelers (name_key, worker_id, key_hash, invited, created_at, "
        "key_issued_at) VALUES (?, ?, ?, ?, ?, ?)",
        (wanted, worker, hashed, int(invited), now, now),
    )
    return Identity(worker, fingerprint(hashed), key)


def _worker_for(conn: sqlite3.Connection, name: str, wanted: str) -> str:
    """The worker id a new claim takes: a labeler from before names were claimed keeps their
    record (as typed then), otherwise the name as typed now."""
    exact = conn.execute("SELECT market FROM workers WHERE id = ?", (name,)).fetchone()
    if exact is not None:
        if exact["market"] != MARKET:
            raise Refused(409, "that name is taken by a worker of another market: choose another")
        return name
    unclaimed = conn.execute(
        "SELECT id FROM workers WHERE market = ? AND id NOT IN (SELECT worker_id FROM labelers) "
        "ORDER BY first_seen, id",
        (MARKET,),
    ).fetchall()
    for row in unclaimed:
        if name_key(str(row["id"])) == wanted:
            return str(row["id"])
    return name
