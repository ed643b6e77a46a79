"""The procedural sample gallery: files, truth table, determinism, and a beauty that makes sense."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image
from scipy.stats import skew

from sample import TRUTH_COLUMNS, generate_gallery
from sample.compose import Scene, render
from sample.faults import FAULTS
from sample.schedule import plan_frames
from sample.taste import TASTE, beauty, visible_beauty

COUNT = 8
SEED = 3


@pytest.fixture(scope="module")
def gallery(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, pd.DataFrame, list[int]]:
    out = tmp_path_factory.mktemp("gallery")
    calls: list[int] = []
    truth = generate_gallery(out, COUNT, SEED, progress=calls.append)
    return out, truth, calls


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_every_file_is_a_237_by_1820_rgb_jpeg(
    gallery: tuple[Path, pd.DataFrame, list[int]],
) -> None:
    out, _, _ = gallery
    pictures = sorted(out.glob("*.jpg"))
    assert len(pictures) == COUNT
    for path in pictures:
        with Image.open(path) as image:
            assert image.format == "JPEG"
            assert image.mode == "RGB"
            assert image.size == (1820, 237)


def test_truth_has_one_row_per_file_and_the_promised_columns(
    gallery: tuple[Path, pd.DataFrame, list[int]],
) -> None:
    out, truth, _ = gallery
    assert list(truth.columns) == TRUTH_COLUMNS
    assert sorted(truth["image"]) == sorted(p.name for p in out.glob("*.jpg"))
    on_disk = pd.read_csv(out / "truth.csv")
    pd.testing.assert_frame_equal(on_disk, truth, check_dtype=False)


def test_truth_values_look_like_a_webcam_archive(
    gallery: tuple[Path, pd.DataFrame, list[int]],
) -> None:
    _, truth, _ = gallery
    assert truth["image"].str.fullmatch(r"\d{4}-\d\d-\d\d_\d{4}\.jpg").all()
    assert truth["image"].is_unique
    taken = pd.to_datetime(truth["taken_at"], format="%Y-%m-%dT%H:%M:%SZ", utc=True)
    assert taken.is_monotonic_increasing
    assert (taken.dt.minute % 10 == 0).all()
    # Frames come a few per day, so a trainer can keep a day's frames together.
    assert truth["day"].duplicated().any()
    assert all(name.startswith(day) for name, day in zip(truth["image"], truth["day"], strict=True))
    assert set(truth["time_of_day"]) <= {"night", "dawn", "day", "sunset"}
    assert set(truth["fault"]) <= set(FAULTS)
    for column in ("clouds", "texture", "colour", "haze", "rain"):
        assert truth[column].between(0.0, 1.0).all(), column
    assert np.isfinite(truth["beauty"]).all()


def test_progress_reports_each_frame_up_to_count(
    gallery: tuple[Path, pd.DataFrame, list[int]],
) -> None:
    _, _, calls = gallery
    assert calls == list(range(1, COUNT + 1))


def test_same_seed_gives_identical_bytes_and_truth(
    gallery: tuple[Path, pd.DataFrame, list[int]], tmp_path: Path
) -> None:
    out, truth, _ = gallery
    again = generate_gallery(tmp_path, COUNT, SEED)
    pd.testing.assert_frame_equal(again, truth)
    assert _files(tmp_path) == _files(out)


def test_different_seed_gives_a_different_gallery(
    gallery: tuple[Path, pd.DataFrame, list[int]], tmp_path: Path
) -> None:
    out, truth, _ = gallery
    other = generate_gallery(tmp_path, COUNT, SEED + 1)
    assert not other["image"].equals(truth["image"])
    assert set(_files(tmp_path).values()).isdisjoint(_files(out).values())


def test_empty_gallery_writes_an_empty_truth_table(tmp_path: Path) -> None:
    truth = generate_gallery(tmp_path / "new", 0, 1)
    assert truth.empty
    assert list(pd.read_csv(tmp_path / "new" / "truth.csv").columns) == TRUTH_COLUMNS


@pytest.mark.parametrize(("count", "seed"), [(-1, 0), (3, -2)])
def test_negative_count_or_seed_is_refused(tmp_path: Path, count: int, seed: int) -> None:
    with pytest.raises(ValueError):
        generate_gallery(tmp_path, count, seed)


@pytest.fixture(scope="module")
def planned() -> pd.DataFrame:
    """Factors and beauty of many frames, without drawing them."""
    rng = np.random.default_rng(11)
    frames = plan_frames(3000, rng)
    frames["beauty"] = beauty(frames, rng)
    return frames


def test_beauty_ranks_scenes_the_way_a_photographer_would(planned: pd.DataFrame) -> None:
    working = planned[planned["fault"] == "none"]
    faulted = planned[planned["fault"] != "none"]
    twilight = working[working["time_of_day"].isin(["dawn", "sunset"])]
    broken_clean = twilight[twilight["clouds"].between(0.2, 0.75) & (twilight["haze"] < 0.2)]
    grey = working[(working["clouds"] > 0.9) & (working["time_of_day"] == "day")]
    wet = working[working["rain"] > 0.3]
    hazy = working[working["haze"] > 0.4]
    assert len(broken_clean) > 20 and len(grey) > 50 and len(wet) > 20 and len(hazy) > 20
    assert faulted["beauty"].mean() < twilight["beauty"].mean()
    assert broken_clean["beauty"].mean() > twilight["beauty"].mean() + 0.5
    assert broken_clean["beauty"].mean() > working["beauty"].mean() + 1.0
    for dull in (grey, wet, hazy):
        assert dull["beauty"].mean() < working["beauty"].mean() - 0.5
    dead = planned[planned["fault"] == "dead"]
    assert len(dead) > 0
    assert dead["beauty"].max() < planned.loc[planned["fault"] != "dead", "beauty"].min()
    assert faulted["beauty"].max() < working["beauty"].quantile(0.5)


def test_beauty_is_centred_spread_and_skewed_like_a_real_gallery(planned: pd.DataFrame) -> None:
    b = planned["beauty"]
    assert abs(b.mean()) < 0.3
    assert 1.1 < b.std() < 1.9
    working = planned.loc[planned["fault"] == "none", "beauty"]
    median = working.median()
    # Few spectacular frames: the upper tail reaches further than the lower one.
    assert working.quantile(0.99) - median > median - working.quantile(0.01)
    assert skew(working.to_numpy()) > 0.1


def test_the_visible_part_of_beauty_leaves_only_the_taste_term(planned: pd.DataFrame) -> None:
    visible = visible_beauty(planned)
    working = (planned["fault"] == "none").to_numpy()
    taste = planned["beauty"].to_numpy()[working] - visible[working]
    # On working frames what the pixels cannot show is the taste term alone: N(0, TASTE²).
    assert abs(taste.mean()) < 0.03 and abs(taste.std() - TASTE) < 0.03
    # Faults and dead frames keep their place below working frames of the same scene.
    dead = (planned["fault"] == "dead").to_numpy()
    assert visible[dead].max() < visible[~dead].min()
    assert visible[~working & ~dead].max() < np.median(visible[working])


def test_same_seed_plans_the_same_frames_and_beauty() -> None:
    def plan(seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        frames = plan_frames(40, rng)
        frames["beauty"] = beauty(frames, rng)
        return frames

    pd.testing.assert_frame_equal(plan(5), plan(5))
    assert not plan(5)["beauty"].equals(plan(6)["beauty"])


def _picture(**factors: float | str) -> np.ndarray:
    scene = {
        "sun_elevation": 40.0,
        "sun_azimuth": 200.0,
        "clouds": 0.3,
        "texture": 0.5,
        "colour": 0.6,
        "haze": 0.05,
        "rain": 0.0,
        "fault": "none",
    }
    scene.update(factors)
    image = render(Scene.from_row(scene), np.random.default_rng(0), day_seed=1)
    return np.asarray(image, dtype=np.float64)


def _warmth(sky: np.ndarray) -> float:
    return float((sky[..., 0] - sky[..., 2]).mean())


def _detail(image: np.ndarray) -> float:
    return float(np.abs(np.diff(image, axis=1)).mean())


def test_pictures_show_their_factors() -> None:
    noon = _picture()
    assert _picture(fault="dead").mean() < 5.0
    assert _picture(fault="overexposed").mean() > noon.mean() + 40.0
    assert _detail(_picture(fault="blur")) < _detail(noon) / 2
    sunset = _picture(sun_elevation=0.5, sun_azimuth=250.0, colour=0.9)
    assert _warmth(sunset[:80]) > _warmth(noon[:80]) + 20.0
    assert _picture(sun_elevation=-11.0).mean() < noon.mean() / 2
    murky = _picture(clouds=1.0, rain=0.8, haze=0.3)
    assert murky[100:].std() < noon[100:].std()


def test_registered_sample_frames_carry_their_true_capture_moment(
    gallery: tuple[Path, pd.DataFrame, list[int]], tmp_path: Path
) -> None:
    from infra import gallery as images
    from infra.workspace import Workspace

    folder, truth, _ = gallery
    ws = Workspace.init(tmp_path / "ws")
    images.add_images(ws, str(folder))
    taken = {r["file_name"]: r["taken_at"] for r in images.list_images(ws.ledger)}
    for row in truth.itertuples():
        stamp = pd.Timestamp(taken[row.image])
        assert stamp.tzinfo is not None, row.image  # EXIF carries the offset, as cameras do
        assert stamp.tz_convert("UTC") == pd.Timestamp(row.taken_at), row.image
        assert taken[row.image][:10] == row.day  # the capture day is the local day
