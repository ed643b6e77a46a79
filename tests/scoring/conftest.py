"""The scoring tests work on one small trained run (:mod:`tests.scoring.scoring_fixtures`), trained
with the training tests' calibrated weights, which are shared from there."""

from __future__ import annotations

from tests.training.conftest import calibrated_mobilenet

__all__ = ["calibrated_mobilenet"]
