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

from crowd.answers import MAX_SECONDS
from crowd.judgments import judgments_table, votes_from_judgments
from infra.atomic import atomic_path
from infra.errors import BeautyError
from infra.gallery import resolve_images
from infra.ledger import Ledger, utcnow
from infra.text import display_name, printable, safe_csv_frame
from infra.workspace import Workspace
from ranking.votes import VOTE_COLUMNS, validate_votes

KEY_FILE = ".pseudonym-key"


MAX_TABLE_BYTES = 2 * 1024**3  # a votes or truth table this large is a mistake, not data


def read_table(path: Path) -> pd.DataFrame:
    """A CSV or parquet file, by suffix. Anything unreadable is one :class:`BeautyError`."""
    shown = display_name(str(path))
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise BeautyError(f"{shown}: no such file") from None
    except OSError as exc:
        raise BeautyError(f"{shown}: cannot read it ({exc.strerror}); check the path") from None
    if path.suffix not in (".csv", ".parquet"):
        raise BeautyError(f"{shown}: unknown table format; use .csv or .parquet")
    if size == 0:
        raise BeautyError(f"{shown}: the file is empty; expected a header row and data")
    if size > MAX_TABLE_BYTES:
        raise BeautyError(f"{shown}: {size:,} bytes is too large for a table; split it")
    try:
        if path.suffix == ".parquet":
            return pd.read_parquet(path)
        with open(path, "rb") as handle:
            head = handle.read(8192)
        if b"\0" in head:
            raise BeautyError(f"{shown}: not a text CSV file (binary content); save it as CSV")
        return pd.read_csv(path, dtype=str, keep_default_na=False, na_values=[""], encoding="utf-8")
    except BeautyError:
        raise
    except UnicodeDecodeError as exc:
        raise BeautyError(
            f"{shown}: not UTF-8 text (byte {exc.start}); save it as UTF-8 CSV"
        ) from None
    except pd.errors.EmptyDataError:
        raise BeautyError(f"{shown}: no columns; expected a header row and data") from None
    except pd.errors.ParserError as exc:
        detail = " ".join(str(exc).split())[:160]
        raise BeautyError(f"{shown}: not a well-formed CSV ({detail}); fix the quoting") from None
    except OSError as exc:
        raise BeautyError(f"{shown}: cannot read it ({exc}); check the file") from None
    except Exception as exc:  # pyarrow's errors for a damaged parquet file have no common base
        detail = " ".join(str(exc).split())[:160]
        raise BeautyError(f"{shown}: not a readable table ({detail}); check the file") from None


def write_table(frame: pd.DataFrame, path: Path) -> None:
    """Write a table whole (a temporary file renamed into place); CSV text cells that a
    spreadsheet would run as formulas are neutralised."""
    if path.suffix not in (".parquet", ".csv"):
        raise BeautyError(f"{display_name(str(path))}: unknown table format; use .csv or .parquet")
    with atomic_path(path) as tmp:
        if path.suffix == ".parquet":
            frame.to_parquet(tmp, index=False)
        else:
            safe_csv_frame(frame).to_csv(tmp, index=False)


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
            "seconds": pd.Series([r["seconds"] for r in rows], dtype=float),
        }
    )
    if not len(imported):
        votes = judged
    elif not len(judged):  # concatenating an empty table is deprecated in pandas
        votes = imported.reindex(columns=judged.columns.union(imported.columns, sort=False))
    else:
        votes = pd.concat([judged, imported], ignore_index=True)
    derived = {r[0] for r in ledger.query("SELECT id FROM images WHERE derived_from IS NOT NULL")}
    if derived:
        votes = votes[~(votes["left"].isin(derived) | votes["right"].isin(derived))]
    return votes.reset_index(drop=True)


@dataclass
class ImportedVotes:
    votes: int
    ties: int
    workers: int
    already: int = 0  # rows an earlier import stored already, skipped


def import_votes(ws: Workspace, path: Path) -> ImportedVotes:
    """Store a votes table; every image must resolve and every row be valid, or nothing is
    stored. Rows already imported (from this file or another with the same rows) are skipped
    and counted, so importing a file twice adds nothing."""
    table = read_table(path)
    shown = display_name(str(path))
    if table.empty:
        raise BeautyError(f"{shown}: no votes (a header and no rows)")
    try:
        table = validate_votes(table)
    except ValueError as exc:
        raise BeautyError(f"{shown}: {exc}; expected columns {', '.join(VOTE_COLUMNS)}") from None
    seconds = _seconds(table, shown)
    names = pd.concat([table["left"], table["right"], table["label"].dropna()]).astype(str)
    try:
        ids = resolve_images(ws.ledger, names.unique())
    except BeautyError as exc:
        raise BeautyError(f"{shown}: {exc}") from None
    now = utcnow()
    keyed = pd.DataFrame(
        {
            "worker": table["worker"].astype(str).to_numpy(),
            "left": [ids[str(x)] for x in table["left"]],
            "right": [ids[str(x)] for x in table["right"]],
            "label": ["" if pd.isna(x) else ids[str(x)] for x in table["label"]],
            "seconds": seconds.fillna(-1.0).to_numpy(),
        }
    )
    # Identical rows in one file are distinct votes (a worker shown a pair twice): the k-th
    # copy is occurrence k, so a re-import matches each of them once.
    occurrence = keyed.groupby(list(keyed.columns), sort=False).cumcount() + 1
    rows = [
        (shown, w, left, right, label or None, None if sec < 0 else float(sec), int(k), now)
        for w, left, right, label, sec, k in zip(
            keyed["worker"],
            keyed["left"],
            keyed["right"],
            keyed["label"],
            keyed["seconds"],
            occurrence,
            strict=True,
        )
    ]
    with ws.ledger.transaction() as conn:
        before = conn.total_changes
        conn.executemany(
            "INSERT OR IGNORE INTO imported_votes (source, worker, left_id, right_id, label_id, "
            "seconds, occurrence, imported_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            rows,
        )
        stored = conn.total_changes - before
    return ImportedVotes(
        votes=stored,
        ties=int(table["label"].isna().sum()),
        workers=table["worker"].nunique(),
        already=len(rows) - stored,
    )


def _seconds(table: pd.DataFrame, shown: str) -> pd.Series:
    """The optional ``seconds`` column as floats: empty is unknown; anything else must be a
    finite number of seconds from 0 to an hour, as the labeling server accepts."""
    if "seconds" not in table.columns:
        return pd.Series(np.nan, index=table.index, dtype=float)
    raw = table["seconds"]
    blank = raw.isna() | raw.astype(str).str.strip().eq("")
    values = pd.to_numeric(raw.where(~blank), errors="coerce")
    bad = (~blank & values.isna()) | ~(values.isna() | values.between(0, MAX_SECONDS))
    if bad.any():
        first = table.index[bad.to_numpy()][0]
        raise BeautyError(
            f"{shown}: {int(bad.sum())} votes have seconds that are not a number from 0 to "
            f"{MAX_SECONDS:g} (first at row {first!r}: {printable(str(raw[first]))[:40]!r}); "
            "fix them or leave them empty"
        )
    return values.astype(float)


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
