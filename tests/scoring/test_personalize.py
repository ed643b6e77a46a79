"""Personal taste: a labeler who prefers redder photos teaches a brightness-trained run to agree.

The base run learned brightness; the labeler ignores brightness and picks the redder photo.
Agreement on their held-out comparisons must rise well above what the base run manages.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from crowd.votes import labeler_votes
from infra import gallery
from infra.errors import BeautyError
from infra.workspace import Workspace
from scoring.personalize import personalize
from scoring.scorer import Scorer
from training.metrics import spearman

from .scoring_fixtures import TinyRun, tiny_run, write_coloured

__all__ = ["tiny_run"]
PHOTOS = 40


def _quiet(line: str) -> None:
    """Progress lines are not under test here."""


@pytest.fixture(scope="module")
def tinted(tmp_path_factory: pytest.TempPathFactory) -> tuple[Workspace, pd.DataFrame]:
    """A workspace of photos whose brightness and redness vary independently."""
    ws = Workspace.init(tmp_path_factory.mktemp("taste") / "ws")
    rng = np.random.default_rng(5)
    rows = []
    for i in range(PHOTOS):
        path = ws.root / "photos" / f"p{i:02d}.jpg"
        brightness, redness = rng.uniform(0.1, 0.9), rng.uniform(-1, 1)
        write_coloured(path, brightness, redness, seed=i)
        rows.append({"uri": str(path), "brightness": brightness, "redness": redness})
    gallery.add_images(ws, str(ws.root / "photos"))
    ids = {r["uri"]: r["id"] for r in ws.ledger.query("SELECT id, uri FROM images")}
    frame = pd.DataFrame(rows)
    frame["image"] = frame["uri"].map(ids)
    return ws, frame


def _redder_wins(photos: pd.DataFrame, n: int, seed: int) -> pd.DataFrame:
    """``n`` comparisons of random pairs, each won by the redder photo."""
    rng = np.random.default_rng(seed)
    pairs = [rng.choice(len(photos), 2, replace=False) for _ in range(n)]
    votes = []
    for a, b in pairs:
        left, right = photos.iloc[a], photos.iloc[b]
        winner = left if left["redness"] > right["redness"] else right
        votes.append({"worker": "ana", "left": left["image"], "right": right["image"],
                      "label": winner["image"]})  # fmt: skip
    return pd.DataFrame(votes)


def test_the_labelers_taste_is_learned(
    tiny_run: TinyRun, tinted: tuple[Workspace, pd.DataFrame]
) -> None:
    ws, photos = tinted
    votes = _redder_wins(photos, 160, seed=1)
    taste = personalize(ws, tiny_run.run_dir, "ana", votes, progress=_quiet)
    assert taste.heldout_votes == 32 and taste.train_votes == 128
    # The base run's agreement depends on what its random features happen to share with
    # redness; whatever it is, the labeler's own comparisons at least halve the disagreement.
    assert taste.agreement_after >= 0.85
    assert 1 - taste.agreement_after <= (1 - taste.agreement_before) / 2
    assert taste.run_dir == ws.runs_dir / "tiny-ana"
    card = json.loads((taste.run_dir / "model_card.json").read_text())
    assert card["name"] == "tiny-ana"
    assert card["options"]["personalized"]["base_run"] == "tiny"
    assert card["options"]["personalized"]["labeler"] == "ana"
    assert card["metrics"]["labeler_agreement"]["value"] == taste.agreement_after
    # The new run ranks all the photos, compared or not, more by redness than the base run.
    uris = photos["uri"].tolist()
    before = Scorer(tiny_run.run_dir).score(uris)["score"].to_numpy()
    after = Scorer(taste.run_dir).score(uris)["score"].to_numpy()
    redness = photos["redness"].to_numpy()
    assert spearman(redness, after) >= max(0.9, spearman(redness, before))
    assert np.std(after) == pytest.approx(np.std(before), rel=0.5)
    with pytest.raises(BeautyError, match="already exists"):
        personalize(ws, tiny_run.run_dir, "ana", votes, progress=_quiet)


def test_a_head_no_better_than_the_base_is_not_written_unless_forced(
    tiny_run: TinyRun, tinted: tuple[Workspace, pd.DataFrame]
) -> None:
    ws, photos = tinted
    # The person's held-out comparisons (the documented seeded 20%) contradict the ones the
    # head is fitted to, so the fitted head must agree with them less than the base does.
    votes = _redder_wins(photos, 160, seed=1)
    held = np.zeros(len(votes), dtype=bool)
    held[np.random.default_rng(0).permutation(len(votes))[:32]] = True
    mixed = votes.copy()
    mixed.loc[held, "label"] = np.where(
        votes["label"] == votes["left"], votes["right"], votes["left"]
    )[held]
    taste = personalize(ws, tiny_run.run_dir, "ana", mixed, name="mixed", progress=_quiet)
    assert taste.agreement_after < taste.agreement_before
    assert not taste.written and not (ws.runs_dir / "mixed").exists()
    forced = personalize(
        ws, tiny_run.run_dir, "ana", mixed, name="mixed", progress=_quiet, force=True
    )
    assert forced.written and (ws.runs_dir / "mixed" / "model_card.json").exists()


def test_too_few_comparisons_is_a_clear_error(
    tiny_run: TinyRun, tinted: tuple[Workspace, pd.DataFrame]
) -> None:
    ws, photos = tinted
    votes = _redder_wins(photos, 30, seed=2)
    votes.loc[12:, "label"] = np.nan  # "no preference" says nothing about taste
    with pytest.raises(BeautyError, match=r"has 12 decisive comparisons.*at least 20"):
        personalize(ws, tiny_run.run_dir, "ana", votes, name="few", progress=_quiet)
    assert not (ws.runs_dir / "few").exists()


def test_a_labeler_without_comparisons_is_named_with_the_known_ones(
    tinted: tuple[Workspace, pd.DataFrame],
) -> None:
    ws, _ = tinted
    with pytest.raises(BeautyError, match="'bea' has no comparisons"):
        labeler_votes(ws.ledger, "bea")


def test_comparisons_made_on_the_local_server_are_the_labelers(
    tinted: tuple[Workspace, pd.DataFrame], tmp_path: Path
) -> None:
    from crowd.answers import HitAnswer, ScreenAnswer
    from crowd.batches import BatchSpec, plan_batch
    from crowd.local.client import MarketClient
    from crowd.local.server import start_server

    source, photos = tinted
    ws = Workspace.init(tmp_path / "ws")
    gallery.add_images(ws, str(source.root / "photos"))
    spec = BatchSpec.from_settings(
        ws.settings, design="pairwise", market="local", hits=3, screens_per_hit=4,
        assignments=1, gold_rate=0.0,
    )  # fmt: skip
    plan_batch(ws, spec)
    redness = dict(zip(photos["image"], photos["redness"], strict=True))
    server = start_server(ws)
    client = MarketClient(server.url)
    try:
        client.sign_in("carla")
        while (hit := client.next_hit()) is not None:
            answers = []
            for screen in hit.screens:
                tokens = [image.token for image in screen.images]
                marks = ",".join("?" * len(tokens))
                rows = ws.ledger.query(
                    f"SELECT token, image_id FROM screen_images WHERE token IN ({marks})", tokens
                )
                image_of = {r["token"]: r["image_id"] for r in rows}
                redder = max(tokens, key=lambda t: redness[image_of[t]])
                answers.append(ScreenAnswer(screen=screen.token, selected=[redder], seconds=2))
            client.submit(hit, HitAnswer(hit=hit.hit, screens=answers))
    finally:
        client.close()
        server.stop()
    votes = labeler_votes(ws.ledger, "carla")
    assert len(votes) == 12
    assert all(
        redness[v.label] == max(redness[v.left], redness[v.right]) for v in votes.itertuples()
    )
