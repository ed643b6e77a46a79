"""Active pairs for the next batch, chosen from the workspace's own votes.

The crowd model (:class:`ranking.realistic.CrowdNoise`: how answers get noisier as photos get
closer, ties, lapses, the pair effect that repeats share) is calibrated on the votes the
workspace holds, or read from a file that ``beauty plan --calibrate votes.csv --save-crowd``
wrote. A Bradley-Terry fit of the same votes gives every pair's gap, and
:func:`ranking.informative.informative_pairs` takes the pairs whose answers are expected to put
the most misordered pairs right (the top of the ranking first with ``focus``), or random
balanced pairs when the model sees no pay-off in choosing: then the batch costs what a random
batch costs and ranks as well.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from crowd.budget import read_crowd_model
from crowd.votes import ledger_votes
from infra.errors import BeautyError
from infra.workspace import Workspace
from ranking.informative import current_fit, informative_pairs
from ranking.realistic import calibrate


@dataclass(frozen=True)
class ActivePairs:
    """The batch's pairs and a line that says whether they are the active choice, and why."""

    pairs: list[tuple[str, str]]
    note: str


def active_pairs(
    ws: Workspace,
    images: Sequence[str],
    n_pairs: int,
    *,
    assignments: int,
    seed: int,
    focus: int | None = None,
    crowd_model: Path | None = None,
) -> ActivePairs:
    """Choose ``n_pairs`` pairs of ``images``, each to be answered ``assignments`` times.

    Raises
    ------
    BeautyError
        Too few votes to calibrate the crowd on (and no ``crowd_model``), or an unreadable model.
    """
    ids = set(images)
    votes = ledger_votes(ws.ledger)
    votes = votes[votes["left"].isin(ids) & votes["right"].isin(ids)].reset_index(drop=True)
    if crowd_model is not None:
        noise, origin = read_crowd_model(crowd_model), f"the crowd model {crowd_model}"
    else:
        try:
            noise = calibrate(votes).noise
        except ValueError as exc:
            raise BeautyError(
                f"active pairs are chosen from the votes so far, and {exc}: plan a random "
                "batch first, or pass --crowd-model FILE (from `beauty plan --calibrate "
                "votes.csv --save-crowd FILE`)"
            ) from None
        origin = f"a crowd model calibrated on {len(votes):,} votes"
    fit = current_fit(votes, images)
    asked = Counter(
        (a, b) if a < b else (b, a) for a, b in zip(votes["left"], votes["right"], strict=True)
    )
    batch = informative_pairs(
        list(images), n_pairs, fit.scores, fit.se, noise, seed,
        asked=asked, assignments=assignments, focus=focus,
    )  # fmt: skip
    gains = (
        f"{batch.gain_active:.2f} misordered pairs put right against {batch.gain_random:.2f} "
        f"for random pairs ({origin})"
    )
    if batch.active:
        note = f"active pairs: predicted {gains}"
    else:
        note = f"random pairs: active ones predicted too little gain, {gains}"
    return ActivePairs(batch.pairs, note)
