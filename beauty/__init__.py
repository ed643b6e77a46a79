"""Beauty Crowd: crowd comparisons of photos -> beauty scores -> a model that scores a gallery.

The notebook API: ``import beauty`` gives the objects the `beauty` command is built on. They are
loaded on first use, so ``import beauty`` stays fast and TensorFlow loads only for models::

    import beauty
    ws = beauty.Workspace.open("skyline")
    votes = beauty.ledger_votes(ws.ledger)
    scores = beauty.CrowdBT().fit(votes).scores_
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0"

# name -> the module that defines it
_EXPORTS = {
    # the workspace and its gallery
    "Workspace": "infra.workspace",
    "add_images": "infra.gallery",
    "list_images": "infra.gallery",
    # votes tables and the campaign
    "BatchSpec": "crowd.batches",
    "plan_batch": "crowd.batches",
    "ledger_votes": "crowd.votes",
    "import_votes": "crowd.votes",
    "export_votes": "crowd.votes",
    "read_table": "crowd.votes",
    "judgments_table": "crowd.judgments",
    "review": "crowd.decisions",
    "fit_scores": "crowd.rank",
    "rank_workspace": "crowd.rank",
    "markets": "crowd.markets",
    # ranking: estimators with fit / scores_ (crowd-kit style), the method registry, planning
    "BradleyTerry": "ranking.bradley_terry",
    "CrowdBT": "ranking.reliability",
    "FourUp": "ranking.fourup",
    "methods": "ranking.methods",
    "scores_table": "ranking.scores",
    "worker_gold": "ranking.gold",
    "DesignSpec": "ranking.planning",
    "plan_budget": "ranking.planning",
    "simulate_design": "ranking.planning",
    "plan_screens": "ranking.design",
    # models: train, evaluate, score
    "train": "training.run",
    "evaluate": "training.evaluate",
    "Scorer": "scoring.scorer",
    "load_scoring_model": "scoring.loading",
    "score_gallery": "scoring.gallery",
    "curate": "scoring.albums",
    "similar": "scoring.similar",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        module = import_module(_EXPORTS[name])
        value = module if name in ("markets", "methods") else getattr(module, name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'beauty' has no attribute {name!r}")


def __dir__() -> list[str]:
    return [*globals(), *__all__]
