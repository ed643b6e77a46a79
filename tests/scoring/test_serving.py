"""The Scorer API gives what the batch scorer writes; the SavedModel gives what the Scorer does."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from infra.errors import BeautyError
from infra.images import load_rgb
from scoring.export import export_savedmodel
from scoring.gallery import score_gallery
from scoring.scorer import Scorer
from scoring.table import read_scores

from .scoring_fixtures import TinyRun, tiny_run

__all__ = ["tiny_run"]


@pytest.fixture(scope="module")
def scorer(tiny_run: TinyRun) -> Scorer:
    return Scorer(tiny_run.run_dir, batch_size=4)


def test_the_scorer_equals_the_batch_scorer(
    tiny_run: TinyRun, scorer: Scorer, tmp_path: Path
) -> None:
    out = tmp_path / "s.parquet"
    score_gallery(tiny_run.run_dir, str(tiny_run.gallery), out=out, batch_size=4)
    table, embeddings = read_scores(out)
    some = table.sample(7, random_state=0)
    asked = [*some["uri"], str(tmp_path / "missing.jpg"), some["uri"].iloc[0]]
    frame, vectors = scorer.score_and_embed(asked)
    assert frame["uri"].tolist() == asked
    np.testing.assert_allclose(frame["score"].iloc[:7], some["score"], rtol=1e-5, atol=1e-6)
    assert frame["image"].iloc[:7].tolist() == some["image"].tolist()
    np.testing.assert_allclose(
        vectors[:7], np.asarray(embeddings)[some.index], rtol=2e-3, atol=1e-4
    )
    assert frame["skipped"].iloc[7] == "file not found" and np.isnan(frame["score"].iloc[7])
    assert np.isnan(vectors[7]).all()
    assert frame["score"].iloc[8] == frame["score"].iloc[0]
    np.testing.assert_array_equal(scorer.embed(asked[:2]), vectors[:2])
    pd_scores = scorer.score(asked[:2])
    assert pd_scores["score"].tolist() == frame["score"].iloc[:2].tolist()


def test_the_savedmodel_reloads_and_scores_as_the_scorer(
    tiny_run: TinyRun, scorer: Scorer, tmp_path: Path
) -> None:
    import tensorflow as tf

    folder = export_savedmodel(tiny_run.run_dir, tmp_path / "export")
    loaded = tf.saved_model.load(str(folder))
    uris = tiny_run.uris[:3]
    expected, vectors = scorer.score_and_embed(uris)
    for i, uri in enumerate(uris):
        pixels = np.asarray(load_rgb(Path(uri).read_bytes()))[None]
        as_uint8 = loaded.signatures["serving_default"](images=tf.constant(pixels))
        as_float = loaded.signatures["serving_float"](images=tf.constant(pixels, tf.float32))
        for out in (as_uint8, as_float):
            assert out["score"].numpy()[0] == pytest.approx(expected["score"].iloc[i], abs=1e-5)
            np.testing.assert_allclose(out["embedding"].numpy()[0], vectors[i], atol=1e-5)
    # Any size: the graph resizes as training did.
    small = np.asarray(Image.open(uris[0]).resize((142, 36)))[None]
    assert np.isfinite(loaded.signatures["serving_default"](images=small)["score"].numpy()).all()
    with pytest.raises(BeautyError, match="not empty"):
        export_savedmodel(tiny_run.run_dir, folder)
