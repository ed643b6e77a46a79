"""Reading the scores table: clear one-line errors, resolved URIs, derived images left out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infra.errors import BeautyError
from infra.ledger import utcnow
from infra.workspace import Workspace
from training.capture import capture_days, exif_time
from training.scores import exclude_derived, load_scores
from training.targets import make_targets, se_weights


def _table(folder: Path, n: int = 12) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "image": [f"{i:016x}" for i in range(n)],
            "uri": [f"photos/{i}.jpg" for i in range(n)],
            "score": np.linspace(-1, 1, n),
            "se": 0.2,
        }
    )


def test_missing_table_names_the_fix(tmp_path: Path) -> None:
    with pytest.raises(BeautyError, match="not found: run `beauty rank`"):
        load_scores(tmp_path / "scores.parquet")


def test_wrong_columns_are_named(tmp_path: Path) -> None:
    path = tmp_path / "votes.csv"
    pd.DataFrame({"worker": ["w"], "left": ["a"], "right": ["b"], "label": ["a"]}).to_csv(path)
    with pytest.raises(BeautyError, match=r"not a scores table: no column image, uri, score"):
        load_scores(path)


def test_bad_values_and_formats_are_clear(tmp_path: Path) -> None:
    frame = _table(tmp_path).astype({"score": object})
    frame.loc[3, "score"] = "high"
    frame.to_csv(tmp_path / "s.csv", index=False)
    with pytest.raises(BeautyError, match=r"column score .*'high' in row 4"):
        load_scores(tmp_path / "s.csv")
    frame = _table(tmp_path)
    frame.loc[2, "image"] = frame.loc[1, "image"]
    frame.to_csv(tmp_path / "d.csv", index=False)
    with pytest.raises(BeautyError, match="more than once"):
        load_scores(tmp_path / "d.csv")
    (tmp_path / "x.parquet").write_bytes(b"not parquet")
    with pytest.raises(BeautyError, match="not a readable parquet"):
        load_scores(tmp_path / "x.parquet")
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(BeautyError, match=r"\.parquet or \.csv"):
        load_scores(tmp_path / "x.json")


def test_relative_uris_and_missing_tiers(tmp_path: Path) -> None:
    _table(tmp_path).to_parquet(tmp_path / "scores.parquet")
    table = load_scores(tmp_path / "scores.parquet", tiers=[50, 95, 98])
    assert table.frame["uri"][0] == str(tmp_path / "photos" / "0.jpg")
    assert table.frame["file_name"][0] == "0.jpg"
    assert table.tier_derived
    assert table.frame["tier"].tolist() == [0] * 6 + [1] * 5 + [3]
    assert len(table.sha256) == 64


def test_derived_images_are_never_trained_on(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    frame = _table(tmp_path)
    with ws.ledger.transaction() as conn:
        for image, derived in ((frame["image"][0], None), (frame["image"][1], frame["image"][0])):
            conn.execute(
                "INSERT INTO images (id, uri, file_name, width, height, bytes, format, "
                "derived_from, added_at) VALUES (?, ?, ?, 1, 1, 1, 'JPEG', ?, ?)",
                (image, f"/g/{image}.jpg", f"{image}.jpg", derived, utcnow()),
            )
    frame.to_csv(tmp_path / "s.csv", index=False)
    table = exclude_derived(load_scores(tmp_path / "s.csv"), ws.ledger)
    assert table.derived == [frame["image"][1]]
    assert frame["image"][1] not in set(table.frame["image"])
    assert len(table.frame) == 11


def test_capture_days_from_ledger_name_and_exif(tmp_path: Path) -> None:
    from PIL import Image

    exif = Image.Exif()
    exif.get_ifd(0x8769)[36867] = "2019:05:04 18:30:00"
    Image.new("RGB", (8, 8)).save(tmp_path / "camera.jpg", exif=exif)
    Image.new("RGB", (8, 8)).save(tmp_path / "plain.jpg")
    assert exif_time((tmp_path / "camera.jpg").read_bytes()) == "2019-05-04T18:30:00"
    ws = Workspace.init(tmp_path / "ws")
    with ws.ledger.transaction() as conn:
        conn.execute(
            "INSERT INTO images (id, uri, file_name, width, height, bytes, format, taken_at, "
            "added_at) VALUES ('a', 'x', 'x', 1, 1, 1, 'JPEG', '2017-01-02T10:00:00Z', ?)",
            (utcnow(),),
        )
    uris = ["/nowhere/x.jpg", "/g/2016-07-14_1930.jpg", str(tmp_path / "camera.jpg")]
    uris.append(str(tmp_path / "plain.jpg"))
    days = capture_days(["a", "b", "c", "d"], uris, ws.ledger, lambda u: Path(u).read_bytes())
    assert days == ["2017-01-02", "2016-07-14", "2019-05-04", None]


def test_targets_standardise_on_training_rows_and_weight_by_se() -> None:
    scores = np.array([0.0, 2.0, 4.0, 100.0])
    train = np.array([True, True, True, False])
    t = make_targets(scores, np.array([0, 1, 2, 3]), train, se=np.array([0.1, 0.1, 1.0, 0.1]))
    assert (t.mean, t.std) == pytest.approx((2.0, np.std([0, 2, 4])))
    assert t.y[:3, 0].mean() == pytest.approx(0.0)
    assert t.weights[:3].mean() == pytest.approx(1.0)
    assert t.weights[2] < t.weights[0]
    labels = make_targets(scores, np.array([0, 1, 2, 3]), train, classify_tier=2)
    assert labels.y.tolist() == [[1, 0], [1, 0], [0, 1], [0, 1]]
    assert se_weights(np.array([1.0, 1.0])) == pytest.approx([0.5, 0.5])
