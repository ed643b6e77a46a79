"""Votes in and out of the workspace, in crowd-kit's columns (``worker, left, right, label``).

Export writes the ledger's votes (judgments broken into pairs, plus imported votes); import
brings in a notebook's labels or another tool's campaign. Images may be named by ledger id, URI
or unambiguous file name; an import is all or nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from crowd.judgments import judgments_table, votes_from_judgments
from infra.errors import BeautyError
from infra.gallery import resolve_images
from infra.ledger import Ledger, utcnow
from infra.workspace import Workspace
from ranking.votes import VOTE_COLUMNS, validate_votes

KEY_FILE = ".pseudonym-key"


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or parquet file, by suffix."""
    if not path.exists():
        raise BeautyError(f"{path}: no such file")
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""])
    raise BeautyError(f"{path}: unknown table format; use .csv or .parquet")


def write_table(frame: pd.DataFrame, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".parquet":
        frame.to_parquet(path, index=False)
    elif path.suffix == ".csv":
        frame.to_csv(path, index=False)
    else:
        raise BeautyError(f"{path}: unknown table format; use .csv or .parquet")


def ledger_votes(ledger: Ledger, *, include_rejected: bool = False) -> pd.DataFrame:
    """Every vote the workspace holds: judged screens broken into pairs, then imported votes.

    Votes from rejected assignments are left out unless asked for: they failed gold with
    evidence. Votes touching a derived image (a made-gold variant) are left out always.
    """
    judged = votes_from_judgments(judgments_table(ledger, include_rejected=include_rejected))
    rows = ledger.query(
        "SELECT worker, left_id, right_id, label_id, seconds FROM imported_votes ORDER BY id"
    )
    imported = pd.DataFrame(
        {
            "worker": [r["worker"] for r in rows],
            "left": [r["left_id"] for r in rows],
            "right": [r["right_id"] for r in rows],
            "label": [r["label_id"] if r["label_id"] is not None else np.nan for r in rows],
            "gold": False,
            "seconds": [r["seconds"] for r in rows],
        }
    )
    votes = pd.concat([judged, imported], ignore_index=True) if len(imported) else judged
    derived = {r[0] for r in ledger.query("SELECT id FROM images WHERE derived_from IS NOT NULL")}
    if derived:
        votes = votes[~(votes["left"].isin(derived) | votes["right"].isin(derived))]
    return votes.reset_index(drop=True)


@dataclass
class ImportedVotes:
    votes: int
    ties: int
    workers: int


def import_votes(ws: Workspace, path: Path) -> ImportedVotes:
    """Store a votes table; every image must resolve, or nothing is stored."""
    table = read_table(path)
    try:
        table = validate_votes(table)
    except ValueError as exc:
        raise BeautyError(f"{path}: {exc}; expected columns {', '.join(VOTE_COLUMNS)}") from None
    names = pd.concat([table["left"], table["right"], table["label"].dropna()]).astype(str)
    try:
        ids = resolve_images(ws.ledger, names.unique())
    except BeautyError as exc:
        raise BeautyError(f"{path}: {exc}") from None
    seconds = table["seconds"] if "seconds" in table.columns else pd.Series(np.nan, table.index)
    now = utcnow()
    rows = [
        (
            str(path),
            str(w),
            ids[str(left)],
            ids[str(right)],
            None if pd.isna(label) else ids[str(label)],
            None if pd.isna(sec) else float(sec),
            now,
        )
        for w, left, right, label, sec in zip(
            table["worker"], table["left"], table["right"], table["label"], seconds, strict=True
        )
    ]
    with ws.ledger.transaction() as conn:
        conn.executemany(
            "INSERT INTO imported_votes (source, worker, left_id, right_id, label_id, seconds, "
            "imported_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
    return ImportedVotes(
        votes=len(rows), ties=int(table["label"].isna().sum()), workers=table["worker"].nunique()
    )


def export_votes(
    ws: Workspace, path: Path, *, crowdkit: bool = False, raw_workers: bool = False
) -> int:
    """Write the workspace's votes; returns the number of rows written.

    ``crowdkit`` drops ties (crowd-kit requires a winner). Worker ids are replaced by stable
    pseudonyms (keyed by a secret kept in the workspace) unless ``raw_workers``.
    """
    votes = ledger_votes(ws.ledger)
    if crowdkit:
        votes = votes[votes["label"].notna()][list(VOTE_COLUMNS)]
    if not raw_workers:
        key = _pseudonym_key(ws)
        votes = votes.assign(worker=votes["worker"].map(lambda w: pseudonym(key, str(w))))
    write_table(votes.reset_index(drop=True), path)
    return len(votes)


def pseudonym(key: bytes, worker: str) -> str:
    return "w" + hmac.new(key, worker.encode(), hashlib.sha256).hexdigest()[:12]


def _pseudonym_key(ws: Workspace) -> bytes:
    path = ws.root / KEY_FILE
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return bytes.fromhex(path.read_text().strip())


def labeler_votes(ledger: Ledger, labeler: str) -> pd.DataFrame:
    """Every comparison ``labeler`` made: ``left, right, label`` (ties have an empty label)."""
    judged = judgments_table(ledger)
    mine = judged[judged["worker"] == labeler]
    if mine.empty:
        known = sorted(set(judged["worker"]))
        names = ", ".join(known[:10]) if known else "none yet"
        raise BeautyError(
            f"labeler {labeler!r} has no comparisons in this workspace (labelers: {names}); "
            "label some with `beauty label serve`"
        )
    return votes_from_judgments(mine)[["left", "right", "label"]]
