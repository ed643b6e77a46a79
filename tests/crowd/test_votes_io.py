from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crowd.judgments import votes_from_judgments
from crowd.votes import export_votes, import_votes, ledger_votes
from infra.errors import BeautyError
from infra.workspace import Workspace
from tests.crowd.market_fixtures import gallery_workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return gallery_workspace(tmp_path, n_images=6)


def _ids(ws: Workspace) -> dict[str, str]:
    return {r["file_name"]: r["id"] for r in ws.ledger.query("SELECT id, file_name FROM images")}


def test_judgments_break_into_crowdkit_votes() -> None:
    judgments = pd.DataFrame(
        {
            "worker": ["w1", "w1", "w2"],
            "assignment": [1, 1, 2],
            "screen": [10, 11, 12],
            "kind": ["pair", "pair", "fourup"],
            "shown": [("a", "b"), ("c", "d"), ("a", "b", "c", "d")],
            "selected": [("b",), (), ("c", "a")],
            "seconds": [1.0, 2.0, 3.0],
            "gold_id": [None, 7, None],
        }
    )
    votes = votes_from_judgments(judgments)
    assert list(votes.columns[:4]) == ["worker", "left", "right", "label"]
    assert votes.iloc[0][["left", "right", "label"]].tolist() == ["a", "b", "b"]
    assert pd.isna(votes.iloc[1]["label"]) and bool(votes.iloc[1]["gold"])
    fourup = votes[votes["screen"] == 12]
    # a and c kept: each beats b and d; left/right keep the shown order
    assert sorted(zip(fourup["left"], fourup["right"], fourup["label"], strict=True)) == [
        ("a", "b", "a"),
        ("a", "d", "a"),
        ("b", "c", "c"),
        ("c", "d", "c"),
    ]


def test_import_names_images_by_file_name_uri_or_id_and_exports_them(
    ws: Workspace, tmp_path: Path
) -> None:
    ids = _ids(ws)
    uri = ws.ledger.scalar("SELECT uri FROM images WHERE file_name = 'photo01.jpg'")
    table = pd.DataFrame(
        {
            "worker": ["ann", "ann", "bob"],
            "left": ["photo00.jpg", uri, ids["photo02.jpg"]],
            "right": ["photo01.jpg", "photo02.jpg", "photo03.jpg"],
            "label": ["photo01.jpg", "", ids["photo02.jpg"]],
        }
    )
    path = tmp_path / "in.csv"
    table.to_csv(path, index=False)
    report = import_votes(ws, path)
    assert (report.votes, report.ties, report.workers) == (3, 1, 2)
    votes = ledger_votes(ws.ledger)
    assert votes["left"].tolist() == [ids["photo00.jpg"], ids["photo01.jpg"], ids["photo02.jpg"]]
    assert votes["label"].isna().tolist() == [False, True, False]

    out = tmp_path / "out.csv"
    assert export_votes(ws, out, crowdkit=True) == 2  # the tie dropped
    exported = pd.read_csv(out)
    assert list(exported.columns) == ["worker", "left", "right", "label"]
    assert not set(exported["worker"]) & {"ann", "bob"}  # pseudonymised
    again = tmp_path / "again.parquet"
    export_votes(ws, again, crowdkit=True)
    assert pd.read_parquet(again)["worker"].tolist() == exported["worker"].tolist()  # stable
    raw = tmp_path / "raw.csv"
    export_votes(ws, raw, raw_workers=True)
    assert set(pd.read_csv(raw)["worker"]) == {"ann", "bob"}


@pytest.mark.parametrize(
    ("frame", "message"),
    [
        (pd.DataFrame({"worker": ["a"], "left": ["photo00.jpg"], "winner": ["x"]}), "right, label"),
        (
            pd.DataFrame(
                {
                    "worker": ["a", "a"],
                    "left": ["photo00.jpg", "photo00.jpg"],
                    "right": ["photo01.jpg", "nope.jpg"],
                    "label": ["photo01.jpg", "nope.jpg"],
                }
            ),
            "nope.jpg",
        ),
    ],
)
def test_bad_tables_are_refused_whole(
    ws: Workspace, tmp_path: Path, frame: pd.DataFrame, message: str
) -> None:
    path = tmp_path / "bad.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(BeautyError, match=message) as err:
        import_votes(ws, path)
    assert "\n" not in str(err.value)
    assert ws.ledger.scalar("SELECT COUNT(*) FROM imported_votes") == 0


def test_votes_touching_a_derived_image_are_left_out(ws: Workspace, tmp_path: Path) -> None:
    ids = _ids(ws)
    with ws.ledger.transaction() as conn:
        conn.execute(
            "UPDATE images SET derived_from = ?, derivation = 'blur' WHERE id = ?",
            (ids["photo00.jpg"], ids["photo05.jpg"]),
        )
    path = tmp_path / "v.csv"
    pd.DataFrame(
        {
            "worker": ["a", "a"],
            "left": ["photo00.jpg", "photo05.jpg"],
            "right": ["photo01.jpg", "photo00.jpg"],
            "label": ["photo01.jpg", np.nan],
        }
    ).to_csv(path, index=False)
    import_votes(ws, path)
    assert ledger_votes(ws.ledger)["left"].tolist() == [ids["photo00.jpg"]]
