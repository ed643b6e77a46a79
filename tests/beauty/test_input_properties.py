"""Property tests, one per input format: whatever the input, the command succeeds or says one
line and exits 1 (a parser raises only its own error); never a traceback."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crowd.answers import AnswerError, HitAnswer, parse_local_answer
from infra.workspace import Workspace
from tests.beauty.bad_input import beauty, ok_or_one_line
from tests.conftest import jpeg_bytes
from tests.crowd.market_fixtures import gallery_workspace

FAST = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
NAMES = ["photo00.jpg", "photo01.jpg", "photo02.jpg", "nope.jpg", "", " ", "photo00.jpg\n"]
cell = st.one_of(
    st.sampled_from(NAMES),
    st.text(max_size=12),
    st.floats(allow_nan=True, allow_infinity=True).map(str),
    st.sampled_from(['"', '""', ",", "=1+1", "\x00", "-1", "1e999", "nan"]),
)


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return gallery_workspace(tmp_path_factory.mktemp("props"), n_images=4)


def _csv(rows: list[list[str]], header: list[str]) -> str:
    return "\n".join(",".join(r) for r in [header, *rows]) + "\n"


@FAST
@given(
    header=st.lists(
        st.sampled_from(["worker", "left", "right", "label", "seconds", "x", ""]),
        min_size=0,
        max_size=6,
    ),
    rows=st.lists(st.lists(cell, min_size=0, max_size=6), max_size=5),
    raw=st.one_of(st.none(), st.binary(max_size=200)),
)
def test_votes_import_of_any_file_is_ok_or_one_line(
    ws: Workspace, tmp_path: Path, header: list[str], rows: list[list[str]], raw: bytes | None
) -> None:
    _any_file_is_ok_or_one_line(
        ws, tmp_path / "votes.csv", header, rows, raw, "imported_votes", ["votes", "import"]
    )


@FAST
@given(
    header=st.lists(st.sampled_from(["left", "right", "label", "x"]), max_size=4),
    rows=st.lists(st.lists(cell, max_size=4), max_size=5),
    raw=st.one_of(st.none(), st.binary(max_size=200)),
)
def test_gold_add_of_any_file_is_ok_or_one_line(
    ws: Workspace, tmp_path: Path, header: list[str], rows: list[list[str]], raw: bytes | None
) -> None:
    _any_file_is_ok_or_one_line(
        ws, tmp_path / "gold.csv", header, rows, raw, "gold_items", ["gold", "add"]
    )


def _any_file_is_ok_or_one_line(
    ws: Workspace,
    path: Path,
    header: list[str],
    rows: list[list[str]],
    raw: bytes | None,
    table: str,
    command: list[str],
) -> None:
    """``beauty COMMAND PATH`` on a CSV of ``rows`` (or ``raw`` bytes) succeeds, or prints one
    line, exits 1 and leaves ``table`` as it was."""
    if raw is None:
        path.write_text(_csv(rows, header), encoding="utf-8", errors="surrogateescape")
    else:
        path.write_bytes(raw)
    before = ws.ledger.scalar(f"SELECT COUNT(*) FROM {table}")
    out = beauty("-w", str(ws.root), *command, str(path))
    ok_or_one_line(out)
    if out.code:
        assert ws.ledger.scalar(f"SELECT COUNT(*) FROM {table}") == before


SECTIONS = ["images", "hits", "review", "ranking", "label", "training", "mturk", "s3", "x"]
KEYS = [
    "max_pixels", "max_bytes", "tiers", "seconds_per_screen", "assignments", "reward",
    "gold_rate", "prior", "port", "host", "bonus", "reject_below", "epochs", "title", "y",
]  # fmt: skip
toml_value = st.one_of(
    st.integers(min_value=-(2**63), max_value=2**63 - 1).map(str),
    st.floats().map(lambda f: {"inf": "inf", "-inf": "-inf", "nan": "nan"}.get(str(f), repr(f))),
    st.lists(st.floats(allow_nan=True), max_size=4).map(
        lambda xs: (
            "[" + ", ".join("nan" if x != x else repr(x).replace("inf", "inf") for x in xs) + "]"
        )
    ),
    st.text(max_size=10).map(json.dumps),
    st.sampled_from(["true", "[]", "{}", "'", "[[", '"\\x"']),
)


@FAST
@given(
    entries=st.lists(
        st.tuples(st.sampled_from(SECTIONS), st.sampled_from(KEYS), toml_value), max_size=4
    ),
    raw=st.one_of(st.none(), st.binary(max_size=120)),
)
def test_any_beauty_toml_is_ok_or_one_line(
    tmp_path_factory: pytest.TempPathFactory,
    entries: list[tuple[str, str, str]],
    raw: bytes | None,
) -> None:
    root = tmp_path_factory.mktemp("toml")
    config = root / "beauty.toml"
    if raw is None:
        config.write_text("".join(f"[{s}]\n{k} = {v}\n" for s, k, v in entries))
    else:
        config.write_bytes(raw)
    ok_or_one_line(beauty("-w", str(root), "hits", "list"))
    shutil.rmtree(root)


json_value = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
TOKEN = "A" * 16
answer_like = st.fixed_dictionaries(
    {
        "hit": st.sampled_from([TOKEN, "", "x" * 3, 7]),
        "screens": st.lists(
            st.fixed_dictionaries(
                {
                    "screen": st.sampled_from([TOKEN, "bad token", None]),
                    "selected": st.lists(st.sampled_from([TOKEN, "zz", 1]), max_size=3),
                    "seconds": st.one_of(st.floats(), st.integers(), st.text(max_size=3)),
                }
            ),
            max_size=3,
        ),
    }
)


@settings(max_examples=100, deadline=None)
@given(
    body=st.one_of(
        st.text(max_size=200),
        json_value.map(json.dumps),
        answer_like.map(lambda a: json.dumps(a, allow_nan=True)),
    )
)
def test_any_local_answer_parses_or_is_an_answer_error(body: str) -> None:
    try:
        parsed = parse_local_answer(body)
    except AnswerError as exc:
        assert str(exc) and "\n" not in str(exc).strip()
        return
    assert isinstance(parsed, HitAnswer)
    for screen in parsed.screens:
        assert 0 <= screen.seconds <= 3600


name_bytes = st.binary(min_size=1, max_size=120).filter(
    lambda b: b"/" not in b and b"\x00" not in b and b not in (b".", b"..")
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(names=st.lists(name_bytes, min_size=1, max_size=4, unique=True))
def test_images_add_takes_file_names_of_any_bytes(
    tmp_path_factory: pytest.TempPathFactory, names: list[bytes]
) -> None:
    root = tmp_path_factory.mktemp("names")
    ws = Workspace.init(root / "ws")
    folder = root / "photos"
    folder.mkdir()
    for k, name in enumerate(names):
        with open(os.fsencode(folder) + b"/" + name + b".jpg", "wb") as handle:
            handle.write(jpeg_bytes(k))
    out = beauty("-w", str(ws.root), "images", "add", str(folder))
    visible = [n for n in names if not n.startswith(b".")]
    if not visible:
        ok_or_one_line(out)
    else:
        assert out.code == 0, out.stderr
        assert out.stdout.startswith(f"{len(visible)} added"), out.stdout
        listing = beauty("-w", str(ws.root), "images", "list").stdout
        assert all(ch == "\n" or ch >= " " for ch in listing)
    ws.ledger.close()
    shutil.rmtree(root)


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=20))
def test_csv_neutralising_is_reversible_and_leaves_no_formula(text: str) -> None:
    from infra.text import FORMULA_LEADS, csv_cell, from_csv_cell

    cell = csv_cell(text)
    assert not cell.startswith(FORMULA_LEADS)
    assert from_csv_cell(cell) == text
