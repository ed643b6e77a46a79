from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from crowd.gold_items import DEGRADATIONS, add_expert_gold, make_gold
from infra import gallery
from infra.errors import BeautyError
from infra.images import load_rgb
from infra.workspace import Workspace
from tests.crowd.tiny_gallery import add_photos


@pytest.fixture
def photos(ws: Workspace, tmp_path: Path) -> Path:
    return add_photos(ws, tmp_path / "gallery", n=6, size=(160, 40))


def _pixels(path: str) -> np.ndarray:
    return np.asarray(load_rgb(Path(path).read_bytes()), dtype=np.float64)


def _detail(pixels: np.ndarray) -> float:
    """High-frequency energy: the variance of the image's Laplacian."""
    grey = pixels.mean(axis=2)
    lap = grey[1:-1, :-2] + grey[1:-1, 2:] + grey[:-2, 1:-1] + grey[2:, 1:-1] - 4 * grey[1:-1, 1:-1]
    return float(lap.var())


def test_made_variants_are_derived_and_degraded_as_named(ws: Workspace, photos: Path) -> None:
    result = make_gold(ws, 10, seed=3, qualification_share=0.0)
    assert result.variants == 10 and result.pair_items == 10 and result.fourup_items == 10
    rows = ws.ledger.query(
        "SELECT v.uri, v.derivation, v.width, v.height, v.format, o.uri AS original, "
        "o.width AS ow, o.height AS oh, o.format AS ofmt "
        "FROM images v JOIN images o ON o.id = v.derived_from"
    )
    assert len(rows) == 10
    seen = set()
    for row in rows:
        assert Path(row["uri"]).parent == ws.root / "derived"
        assert (row["width"], row["height"], row["format"]) == (row["ow"], row["oh"], row["ofmt"])
        kind = row["derivation"].split()[0]
        seen.add(kind)
        variant, original = _pixels(row["uri"]), _pixels(row["original"])
        if kind == "blur":
            assert _detail(variant) < 0.1 * _detail(original)
        elif kind == "underexposed":  # crushed to near black, not a darker mood
            assert variant.mean() < 0.15 * original.mean() and variant.max() < 40
        elif kind == "overexposed":  # blown to near white, not a brighter light
            assert variant.mean() > 200 and variant.std() < 0.6 * original.std()
        elif kind == "noise":
            assert np.abs(variant - original).mean() > 20
        else:
            assert kind == "dead-frame" and variant.mean() < 15 and variant.max() < 60
    assert seen == set(DEGRADATIONS)


def _gold(ws: Workspace) -> tuple[dict[str, str], list[dict[str, object]]]:
    derived = {
        r[0]: r[1]
        for r in ws.ledger.query(
            "SELECT id, derived_from FROM images WHERE derived_from IS NOT NULL"
        )
    }
    items = [
        {
            "kind": r["kind"],
            "source": r["source"],
            "pool": r["pool"],
            "images": json.loads(r["images"]),
            "keep": json.loads(r["must_keep"]),
            "drop": json.loads(r["must_drop"]),
        }
        for r in ws.ledger.query(
            "SELECT kind, source, images, must_keep, must_drop, pool FROM gold_items"
        )
    ]
    return derived, items


def test_a_variant_never_shares_a_screen_with_its_original(ws: Workspace, photos: Path) -> None:
    make_gold(ws, 5, seed=1, qualification_share=0.4)
    derived, items = _gold(ws)
    assert {(i["kind"], i["source"]) for i in items} == {("pair", "made"), ("fourup", "made")}
    for item in items:
        images = item["images"]
        assert isinstance(images, list) and len(images) == len(set(images))
        variants = [x for x in images if x in derived]
        originals_shown = {derived[v] for v in variants}
        assert not originals_shown & set(images), (
            f"{item['kind']} shows an original beside its variant"
        )
        assert item["drop"] == variants and variants[0] == images[0]  # to drop, listed first
        assert not set(item["keep"]) & set(derived)
        if item["kind"] == "pair":
            assert len(images) == 2 and item["keep"] == [images[1]]
        else:
            assert len(images) == 4 and len(variants) == 2
            assert item["keep"] == []  # no scores: nothing is known to be among the best
    pools = [i["pool"] for i in items if i["kind"] == "pair"]
    assert pools.count("qualification") == 2 and pools.count("hits") == 3


def _flat(value: int, size: tuple[int, int] = (160, 40)) -> bytes:
    pixels = np.full((size[1], size[0], 3), value, dtype=np.uint8)
    pixels += np.random.default_rng(value).integers(0, 3, pixels.shape, dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90)
    return buf.getvalue()


def test_bad_frames_are_never_originals_or_companions(
    ws: Workspace, photos: Path, tmp_path: Path
) -> None:
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "predawn.jpg").write_bytes(_flat(4))
    (bad / "washed.jpg").write_bytes(_flat(250))
    gallery.add_images(ws, str(bad))
    names = {r[0]: r[1] for r in ws.ledger.query("SELECT id, file_name FROM images")}
    make_gold(ws, 12, seed=2)
    derived, items = _gold(ws)
    shown = {x for i in items for x in i["images"]} | set(derived.values())  # type: ignore[union-attr]
    assert not {names[x] for x in shown if x in names} & {"predawn.jpg", "washed.jpg"}


def test_with_scores_gold_uses_the_upper_half_and_keeps_only_the_best(
    ws: Workspace, photos: Path
) -> None:
    ids = sorted(r[0] for r in ws.ledger.query("SELECT id FROM images"))
    ws.tables_dir.mkdir(parents=True, exist_ok=True)
    pd.DataFrame({"image": ids, "score": np.arange(len(ids), dtype=float)}).to_csv(
        ws.tables_dir / "scores.csv", index=False
    )
    upper = set(ids[len(ids) // 2 :])
    make_gold(ws, 6, seed=4)
    derived, items = _gold(ws)
    assert set(derived.values()) <= upper
    for item in items:
        assert set(item["images"]) - set(derived) <= upper  # type: ignore[arg-type]
        assert set(item["keep"]) <= {ids[-1]} | (set() if item["kind"] == "fourup" else upper)  # type: ignore[arg-type]


def test_variants_are_never_picked_as_originals(ws: Workspace, photos: Path) -> None:
    make_gold(ws, 6, seed=0)
    make_gold(ws, 12, seed=1)
    parents = {r[0] for r in ws.ledger.query("SELECT derived_from FROM images")} - {None}
    derived = {
        r[0] for r in ws.ledger.query("SELECT id FROM images WHERE derived_from IS NOT NULL")
    }
    assert parents and not parents & derived


def test_making_the_same_gold_twice_adds_nothing(ws: Workspace, photos: Path) -> None:
    first = make_gold(ws, 4, seed=5)
    again = make_gold(ws, 4, seed=5)
    assert (again.variants, again.known) == (0, first.variants)


def test_made_gold_needs_a_gallery(ws: Workspace) -> None:
    with pytest.raises(BeautyError, match="beauty images add"):
        make_gold(ws, 3)


def _csv(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_expert_gold_imports_pairs_named_any_way(
    ws: Workspace, photos: Path, tmp_path: Path
) -> None:
    ids = {r[1]: r[0] for r in ws.ledger.query("SELECT id, file_name FROM images")}
    uri = str(photos / "photo02.jpg")
    table = _csv(
        tmp_path / "gold.csv",
        f"left,right,label\nphoto00.jpg,photo01.jpg,photo01.jpg\n{ids['photo03.jpg']},{uri},{uri}\n",
    )
    result = add_expert_gold(ws, table, author="ann")
    assert (result.added, result.known) == (2, 0)
    items = ws.ledger.query(
        "SELECT images, must_keep, must_drop, source, author, pool FROM gold_items"
    )
    pairs = {(tuple(json.loads(r[0])), json.loads(r[1])[0], json.loads(r[2])[0]) for r in items}
    assert pairs == {
        ((ids["photo00.jpg"], ids["photo01.jpg"]), ids["photo01.jpg"], ids["photo00.jpg"]),
        ((ids["photo03.jpg"], ids["photo02.jpg"]), ids["photo02.jpg"], ids["photo03.jpg"]),
    }
    assert {(r[3], r[4], r[5]) for r in items} == {("expert", "ann", "hits")}
    assert add_expert_gold(ws, table) == type(result)(added=0, known=2)


GOOD_ROW = "photo03.jpg,photo04.jpg,photo04.jpg\n"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a,b,winner\n" + GOOD_ROW, "missing column"),
        ("left,right,label\n" + GOOD_ROW + "photo00.jpg,nope.jpg,photo00.jpg\n", "unknown image"),
        (
            "left,right,label\n" + GOOD_ROW + "photo00.jpg,photo01.jpg,photo02.jpg\n",
            "line 3: label",
        ),
        ("left,right,label\n" + GOOD_ROW + "photo00.jpg,photo00.jpg,photo00.jpg\n", "same image"),
        ("left,right,label\n" + GOOD_ROW + "photo00.jpg,photo01.jpg,\n", "need a value"),
        ("left,right,label\n", "no rows"),
    ],
)
def test_bad_expert_files_import_nothing(
    ws: Workspace, photos: Path, tmp_path: Path, text: str, message: str
) -> None:
    with pytest.raises(BeautyError, match=message):
        add_expert_gold(ws, _csv(tmp_path / "gold.csv", text))
    assert ws.ledger.scalar("SELECT COUNT(*) FROM gold_items") == 0


def test_degradations_keep_the_size(tmp_path: Path) -> None:
    img = Image.new("RGB", (300, 40), (120, 90, 60))
    rng = np.random.default_rng(0)
    for degrade in DEGRADATIONS.values():
        out, derivation = degrade(img, rng)
        assert out.size == img.size and out.mode == "RGB" and derivation
