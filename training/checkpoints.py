"""Per-epoch checkpoints, early stopping and progress lines for one training phase.

After every epoch the phase's folder holds the last weights (with the optimizer's state), the
best weights so far (by validation loss) and a small JSON state; a run interrupted at any point
resumes from the last finished epoch with the same optimizer momentum and patience count.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras

Progress = Callable[[str], None]


class PhaseCheckpoint:
    """Checkpoint, early-stop on validation loss, and print one line per epoch."""

    def __init__(
        self, folder: Path, label: str, epochs: int, patience: int, progress: Progress
    ) -> None:
        self.folder = folder
        self.label = label
        self.epochs = epochs
        self.patience = patience
        self.progress = progress
        self.state: dict[str, Any] = {
            "epochs_done": 0,
            "best": math.inf,
            "best_epoch": None,
            "wait": 0,
            "stopped": False,
            "history": [],
        }

    @property
    def finished(self) -> bool:
        return bool(self.state["stopped"]) or self.state["epochs_done"] >= self.epochs

    def restore(self, model: keras.Model) -> int:
        """Load the last checkpoint into ``model`` (compiled); returns the epoch to start at."""
        state_path = self.folder / "state.json"
        if not state_path.exists():
            return 0
        self.state = json.loads(state_path.read_text(encoding="utf-8"))
        self.state["best"] = _float(self.state["best"])
        _build_optimizer(model)  # so that its state (momentum, step count) loads too
        model.load_weights(self.folder / "last.weights.h5")
        return int(self.state["epochs_done"])

    def keep_best(self, model: keras.Model) -> None:
        """Put the best epoch's weights back into ``model`` (after the last epoch)."""
        best = self.folder / "best.weights.h5"
        if best.exists():
            _build_optimizer(model)
            model.load_weights(best)

    def end_epoch(
        self, model: keras.Model, epoch: int, losses: dict[str, float], seconds: float
    ) -> bool:
        """Record epoch ``epoch`` (from 0) and checkpoint ``model``; whether to stop now."""
        loss, val = losses["loss"], losses["val_loss"]
        entry = {"epoch": epoch + 1, "loss": loss, "val_loss": val, "seconds": round(seconds, 2)}
        self.state["history"].append(entry)
        self.folder.mkdir(parents=True, exist_ok=True)
        mark = ""
        if val < self.state["best"]:
            self.state.update(best=val, best_epoch=epoch + 1, wait=0)
            _atomic(self.folder / "best.weights.h5", model.save_weights)
            mark = " *"
        else:
            self.state["wait"] += 1
            if self.state["wait"] >= self.patience:
                self.state["stopped"] = True
        self.state["epochs_done"] = epoch + 1
        _atomic(self.folder / "last.weights.h5", model.save_weights)
        saved = {
            **self.state,
            "best": None if math.isinf(self.state["best"]) else self.state["best"],
        }
        _atomic(
            self.folder / "state.json",
            lambda p: Path(p).write_text(json.dumps(saved, indent=1), encoding="utf-8"),
        )
        stop = "  (early stop: no better validation loss)" if self.state["stopped"] else ""
        self.progress(
            f"{self.label} epoch {epoch + 1}/{self.epochs}  loss {loss:.4f}  "
            f"val_loss {val:.4f}{mark}  {seconds:.1f}s{stop}"
        )
        return bool(self.state["stopped"])


def _build_optimizer(model: keras.Model) -> None:
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)


def _atomic(path: Path, write: Callable[[str], Any]) -> None:
    """Write through a temporary name then rename: a crash never leaves half a checkpoint."""
    tmp = path.with_name(f".{path.stem}.tmp{''.join(path.suffixes)}")
    write(str(tmp))
    os.replace(tmp, path)


def _float(value: Any) -> float:
    return math.inf if value is None else float(value)
