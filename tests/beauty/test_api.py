"""The notebook API: every name ``import beauty`` promises is there and is what the CLI uses."""

from __future__ import annotations

import subprocess
import sys

import beauty
from crowd.rank import fit_scores
from ranking.reliability import CrowdBT


def test_every_exported_name_resolves() -> None:
    missing = [name for name in beauty.__all__ if getattr(beauty, name, None) is None]
    assert missing == []


def test_exports_are_the_objects_the_cli_is_built_on() -> None:
    assert beauty.CrowdBT is CrowdBT
    assert beauty.fit_scores is fit_scores
    assert "crowdbt" in beauty.methods.names() and "local" in beauty.markets.names()


def test_import_beauty_loads_neither_tensorflow_nor_pandas() -> None:
    code = "import sys, beauty; print('tensorflow' in sys.modules, 'pandas' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
