"""Whole-or-nothing writes: a failure leaves the earlier file or folder as it was, no temporary."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.atomic import atomic_folder, atomic_path, atomic_write_text
from infra.text import display_name, fit_file_name, printable


def test_a_failed_write_keeps_the_earlier_file(tmp_path: Path) -> None:
    path = tmp_path / "scores.csv"
    atomic_write_text(path, "first")
    with pytest.raises(RuntimeError), atomic_path(path) as tmp:
        tmp.write_text("half of the sec")
        raise RuntimeError("the disk filled up")
    assert path.read_text() == "first"
    assert [p.name for p in tmp_path.iterdir()] == ["scores.csv"], "a temporary was left"


def test_a_folder_lands_whole_or_the_earlier_one_stays(tmp_path: Path) -> None:
    album = tmp_path / "album"
    with atomic_folder(album) as tmp:
        (tmp / "0001_a.jpg").write_text("a")
    assert sorted(p.name for p in album.iterdir()) == ["0001_a.jpg"]
    with pytest.raises(OSError), atomic_folder(album) as tmp:
        (tmp / "0001_b.jpg").write_text("b")
        (tmp / ("x" * 300)).write_text("a name the file system refuses")
    assert sorted(p.name for p in album.iterdir()) == ["0001_a.jpg"], "half an album was left"
    with atomic_folder(album) as tmp:
        (tmp / "0001_c.jpg").write_text("c")
    assert sorted(p.name for p in album.iterdir()) == ["0001_c.jpg"]
    assert [p.name for p in tmp_path.iterdir()] == ["album"], "a temporary folder was left"


def test_names_are_made_printable_and_short_enough() -> None:
    assert printable("ann\x1b[2J\nbob") == "ann?[2J?bob"
    assert display_name(b"caf\xe9.jpg") == "caf\ufffd.jpg"
    long = fit_file_name("é" * 300 + ".jpeg", 100)
    assert long.endswith(".jpeg") and len(long.encode()) <= 100
    assert fit_file_name("../etc/passwd") == "_etc_passwd"
