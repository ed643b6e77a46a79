"""``personalize``: one person's own comparisons teach a run's head their taste.

The base network stays frozen: its pooled embedding of every photo the person compared is
computed once, and only the head (a linear read-out of that embedding) is refitted, with a
pairwise logistic loss on score differences (P(i beats j) = sigmoid(s_i - s_j)) and an L2 pull
towards the base head whose strength is chosen by cross-validation. A seeded share of the
person's comparisons is held out to report agreement before and after. The new run keeps the
base run's score scale (the spread of its scores over the compared photos).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import keras
import numpy as np
import pandas as pd
from scipy.optimize import minimize

from infra.errors import BeautyError
from infra.gallery import image_records
from infra.workspace import Workspace
from ranking.gold import wilson_interval
from scoring.loading import ScoringModel, load_scoring_model
from scoring.stream import ImageStream
from training.card import CARD_NAME, ModelCard, versions
from training.options import check_name

Progress = Callable[[str], None]
MIN_VOTES = 20
HOLDOUT = 0.2
STRENGTHS = (1e-3, 1e-2, 1e-1, 1.0)  # candidate pulls towards the base head
FOLDS = 4


@dataclass
class Taste:
    """A personalized run and how well it agrees with its labeler."""

    name: str
    run_dir: Path
    base_run: str
    labeler: str
    train_votes: int
    heldout_votes: int
    agreement_before: float  # share of held-out comparisons the base run orders as the labeler
    agreement_after: float
    strength: float
    skipped: list[str]  # images that could not be read (their comparisons left out)
    written: bool = True  # False: the personal head was no better, the base run is kept


def personalize(
    workspace: Workspace,
    run_dir: str | Path,
    labeler: str,
    votes: pd.DataFrame,
    *,
    name: str | None = None,
    holdout: float = HOLDOUT,
    seed: int = 0,
    min_votes: int = MIN_VOTES,
    batch_size: int = 16,
    progress: Progress = print,
    force: bool = False,
) -> Taste:
    """Fit a run's head to one labeler's comparisons; write the run ``runs/NAME`` when it
    agrees with the labeler's held-out comparisons better than the base run does.

    Parameters
    ----------
    workspace : Workspace
        Holds the images.
    run_dir : path
        The base run.
    labeler : str
        The worker name the person labels under.
    name : str, optional
        The new run's name; default ``<base run>-<labeler>``.
    votes : DataFrame
        The labeler's comparisons, ``left, right, label`` by image id (for a labeler of the
        local server: :func:`crowd.votes.labeler_votes`).
    holdout : float
        Share of the comparisons held out (seeded) to measure agreement.
    force : bool
        Write the new run even when it agrees no better than the base run.

    Raises
    ------
    BeautyError
        When the labeler has fewer than ``min_votes`` decisive comparisons, or the new run's
        name is taken.
    """
    base = Path(run_dir)
    decisive = _decisive(votes)
    if len(decisive) < min_votes:
        raise BeautyError(
            f"labeler {labeler!r} has {len(decisive)} decisive comparisons (ties and identical "
            f"photos left out); personalizing needs at least {min_votes}: label more"
        )
    out = workspace.runs_dir / check_name(name or _default_name(base.name, labeler))
    if (out / CARD_NAME).exists():
        raise BeautyError(f"run {out.name} already exists ({out}); choose another --name")
    model = load_scoring_model(base, batch_size)
    progress(f"embedding the {len(set(decisive['left']) | set(decisive['right']))} compared photos")
    features, skipped = _embed(workspace, model, decisive)
    usable = decisive["left"].isin(features.index) & decisive["right"].isin(features.index)
    decisive = decisive[usable].reset_index(drop=True)
    diffs = _differences(features, decisive)
    heldout = _heldout(len(diffs), holdout, seed)
    train, test = diffs[~heldout], diffs[heldout]
    if len(test) == 0 or len(train) < FOLDS:
        raise BeautyError(f"too few readable comparisons ({len(diffs)}) to fit and measure")
    head = [layer for layer in model.saved.layers if isinstance(layer, keras.layers.Dense)][-1]
    base_direction, _ = _direction(head)
    strength = _choose_strength(train, base_direction, seed)
    direction = _fit(train, base_direction, strength)
    before, after = _agreement(test, base_direction), _agreement(test, direction)
    progress(
        f"agreement with {labeler} on {len(test)} held-out comparisons: "
        f"{before:.1%} before, {after:.1%} after"
    )
    better = after > before
    taste = Taste(
        out.name, out, model.card.name, labeler, len(train), len(test), before, after,
        strength, skipped, written=better or force,
    )  # fmt: skip
    if not taste.written:
        progress(f"the base run {base.name} is kept: the personal head is no better for {labeler}")
        return taste
    _set_head(head, *_rescaled(direction, base_direction, features.to_numpy()))
    _write_run(model, out, taste)
    return taste


def _decisive(votes: pd.DataFrame) -> pd.DataFrame:
    """Votes with a winner between two different photos: ``winner, loser`` plus the sides."""
    missing = {"left", "right", "label"} - set(votes.columns)
    if missing:
        raise BeautyError(f"votes need columns left, right, label (missing {sorted(missing)})")
    label = votes["label"].astype(object).where(votes["label"].notna(), "").astype(str)
    left, right = votes["left"].astype(str), votes["right"].astype(str)
    keep = (left != right) & ((label == left) | (label == right))
    winner = label[keep]
    loser = np.where(winner == left[keep], right[keep], left[keep])
    return pd.DataFrame({"left": winner.to_numpy(), "right": loser}).reset_index(drop=True)


def _embed(
    workspace: Workspace, model: ScoringModel, votes: pd.DataFrame
) -> tuple[pd.DataFrame, list[str]]:
    """Pooled embeddings of the compared photos, indexed by image id; and the unreadable."""
    ids = sorted(set(votes["left"]) | set(votes["right"]))
    uri_of = {image: row["uri"] for image, row in image_records(workspace.ledger, ids).items()}
    unknown = [i for i in ids if i not in uri_of]
    if unknown:
        raise BeautyError(
            f"{len(unknown)} compared image(s) are not in this workspace (e.g. {unknown[0]}); "
            "register them with `beauty images add`"
        )
    uris = [uri_of[i] for i in ids]
    stream = ImageStream(model, uris)
    found: dict[str, np.ndarray] = {}
    for batch in stream.batches(np.arange(len(uris))):
        for row, vector in zip(batch.rows, batch.embeddings, strict=True):
            found[ids[int(row)]] = vector.astype(float)
    return pd.DataFrame.from_dict(found, orient="index"), [s.uri for s in stream.skips]


def _differences(features: pd.DataFrame, votes: pd.DataFrame) -> np.ndarray:
    """One row per vote: the winner's embedding minus the loser's."""
    return features.loc[votes["left"]].to_numpy() - features.loc[votes["right"]].to_numpy()


def _heldout(n: int, share: float, seed: int) -> np.ndarray:
    mask = np.zeros(n, dtype=bool)
    mask[np.random.default_rng(seed).permutation(n)[: max(1, round(share * n))]] = True
    return mask


def _loss(
    direction: np.ndarray, diffs: np.ndarray, prior: np.ndarray, strength: float
) -> tuple[float, np.ndarray]:
    """Mean logistic loss of the comparisons plus the pull towards ``prior``, and its gradient."""
    margin = diffs @ direction
    gap = direction - prior
    loss = float(np.logaddexp(0.0, -margin).mean() + strength / 2 * gap @ gap)
    weight = -0.5 * (1 - np.tanh(margin / 2))  # d/dm log(1 + e^-m) = -sigmoid(-m)
    return loss, diffs.T @ weight / len(diffs) + strength * gap


def _fit(diffs: np.ndarray, prior: np.ndarray, strength: float) -> np.ndarray:
    result = minimize(_loss, prior, args=(diffs, prior, strength), jac=True, method="L-BFGS-B")
    return np.asarray(result.x)


def _choose_strength(diffs: np.ndarray, prior: np.ndarray, seed: int) -> float:
    """The pull with the lowest cross-validated logistic loss."""
    fold = np.random.default_rng(seed + 1).permutation(len(diffs)) % FOLDS
    losses = []
    for strength in STRENGTHS:
        total = 0.0
        for k in range(FOLDS):
            direction = _fit(diffs[fold != k], prior, strength)
            total += float(np.logaddexp(0.0, -(diffs[fold == k] @ direction)).sum())
        losses.append(total)
    return STRENGTHS[int(np.argmin(losses))]


def _agreement(diffs: np.ndarray, direction: np.ndarray) -> float:
    """Share of comparisons whose winner scores higher (a tie counts half)."""
    margin = diffs @ direction
    return float(((margin > 0) + 0.5 * (margin == 0)).mean())


def _rescaled(
    direction: np.ndarray, base: np.ndarray, features: np.ndarray
) -> tuple[np.ndarray, float]:
    """``direction`` scaled, and the shift of the bias, so that the photos' outputs have the
    mean and spread the base head gave them: scores stay on the base run's scale."""
    new, old = features @ direction, features @ base
    spread, base_spread = float(np.std(new)), float(np.std(old))
    scale = base_spread / spread if spread > 0 and base_spread > 0 else 1.0
    return direction * scale, float(old.mean() - scale * new.mean())


def _direction(head: keras.layers.Dense) -> tuple[np.ndarray, np.ndarray]:
    """The score's weight vector on the embedding, and the layer's kernel.

    A regression head's score is its one output; a classifier's, the logit of the top class
    over the other (P(top) rises with it).
    """
    kernel = np.asarray(head.get_weights()[0], dtype=float)
    if kernel.shape[1] == 1:
        return kernel[:, 0], kernel
    return kernel[:, 1] - kernel[:, 0], kernel


def _set_head(head: keras.layers.Dense, direction: np.ndarray, shift: float) -> None:
    """Write ``direction`` back into the head and move the score's bias by ``shift``."""
    _, kernel = _direction(head)
    kernel = kernel.copy()
    bias = np.asarray(head.get_weights()[1], dtype=float).copy()
    if kernel.shape[1] == 1:
        kernel[:, 0] = direction
        bias[0] += shift
    else:
        kernel[:, 1] = kernel[:, 0] + direction
        bias[1] += shift
    head.set_weights([kernel.astype("float32"), bias.astype("float32")])


def _write_run(model: ScoringModel, out: Path, taste: Taste) -> None:
    out.mkdir(parents=True, exist_ok=True)
    model.saved.save(out / model.card.model_file)
    base = model.run_dir
    if (base / model.card.split.file).is_file():
        # `beauty evaluate` on the new run then measures it on the base run's held-out images.
        shutil.copy2(base / model.card.split.file, out / model.card.split.file)
    record = {
        "base_run": taste.base_run,
        "base_run_dir": str(base),
        "labeler": taste.labeler,
        "train_votes": taste.train_votes,
        "heldout_votes": taste.heldout_votes,
        "strength": taste.strength,
        "skipped": taste.skipped,
    }
    card = model.card.model_copy(
        update={
            "name": taste.name,
            "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "options": {**model.card.options, "personalized": record},
            "metrics": {
                "labeler_agreement_before": _interval(taste.agreement_before, taste.heldout_votes),
                "labeler_agreement": _interval(taste.agreement_after, taste.heldout_votes),
            },
            "versions": versions(),
        }
    )
    ModelCard.model_validate(card.model_dump()).write(out)


def _interval(share: float, n: int) -> dict[str, float]:
    low, high = wilson_interval(round(share * n), n)
    return {"value": share, "low": low, "high": high}


def _default_name(base: str, labeler: str) -> str:
    safe = "".join(c if c.isalnum() or c in "._-" else "-" for c in labeler).strip("-.")
    return f"{base}-{safe or 'labeler'}"
