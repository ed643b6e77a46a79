"""Every bad input the audit found ends in one line naming the thing and the fix, exit 1, with
nothing stored changed; files of any name and size are handled; CSV never carries formulas."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pandas as pd
import pytest

from infra import ledger as ledger_module
from infra.workspace import Workspace
from tests.beauty.bad_input import assert_one_line, beauty
from tests.conftest import jpeg_bytes
from tests.crowd.market_fixtures import gallery_workspace


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return gallery_workspace(tmp_path, n_images=6)


def _count(ws: Workspace, table: str) -> int:
    return int(ws.ledger.scalar(f"SELECT COUNT(*) FROM {table}"))


GOOD = "worker,left,right,label,seconds\nann,photo00.jpg,photo01.jpg,photo00.jpg,2\n"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00binary", "binary"),
        (b'worker,left,right,label\n"ann,photo00.jpg,photo01.jpg,photo00.jpg\n', "CSV"),
        (b"worker,left,right,label\n", "no votes"),
        ("worker,left\nann,ph\u00f6to\n".encode("latin-1"), "UTF-8"),
        (GOOD.replace(",2\n", ",quick\n").encode(), "seconds"),
        (GOOD.replace(",2\n", ",-4\n").encode(), "seconds"),
        (GOOD.replace(",2\n", ",inf\n").encode(), "seconds"),
        (GOOD.replace(",2\n", ",nan\n").encode(), "seconds"),
        (GOOD.replace(",2\n", ",1e300\n").encode(), "seconds"),
        (b"a,b\n1,2\n", "missing columns"),
    ],
)
def test_a_bad_votes_file_is_one_line_and_stores_nothing(
    ws: Workspace, tmp_path: Path, content: bytes, says: str
) -> None:
    path = tmp_path / "votes.csv"
    path.write_bytes(content)
    out = beauty("-w", str(ws.root), "votes", "import", str(path))
    assert_one_line(out, "votes.csv", says)
    assert _count(ws, "imported_votes") == 0


@pytest.mark.parametrize(
    ("toml", "key"),
    [
        ("[hits]\nseconds_per_screen = inf\n", "hits.seconds_per_screen"),
        ("[ranking]\nprior = nan\n", "ranking.prior"),
        ("[ranking]\ntiers = [200.0]\n", "ranking.tiers"),
        ("[ranking]\ntiers = []\n", "ranking.tiers"),
        ("[ranking]\ntiers = [nan]\n", "ranking.tiers"),
        ("[ranking]\ntiers = [95.0, 50.0]\n", "ranking.tiers"),
        ("[hits]\nassignments = 9223372036854775807\n", "hits.assignments"),
        ("[images]\nmax_pixels = 100000000000\n", "images.max_pixels"),
        ("[images]\nmax_bytes = 0\n", "images.max_bytes"),
        ("[review]\nbonus = inf\n", "review.bonus"),
    ],
)
def test_a_setting_out_of_range_is_one_line_naming_it(ws: Workspace, toml: str, key: str) -> None:
    (ws.root / "beauty.toml").write_text(toml)
    assert_one_line(beauty("-w", str(ws.root), "images", "list"), key)


def test_an_undecodable_or_unreadable_beauty_toml_is_one_line(ws: Workspace) -> None:
    config = ws.root / "beauty.toml"
    config.write_bytes(b"[hits]\ntitle = '\xff\xfe'\n")
    assert_one_line(beauty("-w", str(ws.root), "images", "list"), "beauty.toml", "UTF-8")
    config.unlink()
    config.mkdir()  # unreadable as a file, whoever runs the test
    assert_one_line(beauty("-w", str(ws.root), "images", "list"), "beauty.toml", "cannot read")


def test_an_infinite_override_is_refused(ws: Workspace) -> None:
    out = beauty("-w", str(ws.root), "images", "list", env={"BEAUTY_HITS__REWARD": "inf"})
    assert_one_line(out, "hits.reward")


def _damage(path: Path) -> None:
    data = bytearray(path.read_bytes())
    for offset in range(4096, len(data), 4096):  # every page but the header's
        data[offset + 8 : offset + 200] = b"\xff" * 192
    path.write_bytes(bytes(data))


def test_a_damaged_ledger_is_one_line_for_every_command(
    ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws.ledger.close()
    path = ws.ledger_path
    for suffix in ("-wal", "-shm"):
        Path(f"{path}{suffix}").unlink(missing_ok=True)
    _damage(path)
    for command in (["hits", "list"], ["rank"], ["images", "list"]):
        assert_one_line(beauty("-w", str(ws.root), *command), "beauty.db is damaged", "doctor")
    # A ledger too large to check whole on open reports damage as it is read.
    monkeypatch.setattr(ledger_module, "QUICK_CHECK_MAX_BYTES", 0)
    for command in (["rank"], ["images", "list"]):
        assert_one_line(beauty("-w", str(ws.root), *command), "beauty.db is damaged", "doctor")
    out = beauty("-w", str(ws.root), "doctor")
    assert_one_line(out, "beauty.db is damaged")
    assert ".recover" in out.stdout


def test_a_file_that_is_not_a_database_is_one_line(ws: Workspace) -> None:
    ws.ledger.close()
    ws.ledger_path.write_bytes(b"not a database at all" * 100)
    assert_one_line(beauty("-w", str(ws.root), "hits", "list"), "beauty.db is damaged")


def test_doctor_passes_a_sound_ledger(ws: Workspace) -> None:
    out = beauty("-w", str(ws.root), "doctor")
    assert out.code == 0 and "beauty.db: ok" in out.stdout


def test_contradictory_expert_gold_is_refused_whole(ws: Workspace, tmp_path: Path) -> None:
    gold = tmp_path / "gold.csv"
    gold.write_text(
        "left,right,label\nphoto00.jpg,photo01.jpg,photo00.jpg\nphoto02.jpg,photo03.jpg,"
        "photo03.jpg\nphoto01.jpg,photo00.jpg,photo01.jpg\n"
    )
    assert_one_line(beauty("-w", str(ws.root), "gold", "add", str(gold)), "line 4", "opposite")
    assert _count(ws, "gold_items") == 0
    gold.write_text("left,right,label\nphoto00.jpg,photo01.jpg,photo00.jpg\n")
    assert beauty("-w", str(ws.root), "gold", "add", str(gold)).code == 0
    gold.write_text("left,right,label\nphoto00.jpg,photo01.jpg,photo01.jpg\n")
    out = beauty("-w", str(ws.root), "gold", "add", str(gold))
    assert_one_line(out, "existing gold")
    assert _count(ws, "gold_items") == 1


def test_file_names_of_any_bytes_are_registered_and_read_back(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    folder = tmp_path / "photos"
    folder.mkdir()
    odd = os.fsencode(folder) + b"/caf\xe9-\x1b[2J.jpg"  # Latin-1 byte and an escape sequence
    with open(odd, "wb") as handle:
        handle.write(jpeg_bytes(1))
    (folder / "plain.jpg").write_bytes(jpeg_bytes(2))
    out = beauty("-w", str(ws.root), "images", "add", str(folder))
    assert out.code == 0, out.stderr
    assert out.stdout.startswith("2 added")
    listing = beauty("-w", str(ws.root), "images", "list").stdout
    assert "caf\ufffd-?[2J.jpg" in listing and "\x1b" not in listing
    # The odd name's bytes come back: a preview copies the image from its URI.
    from infra.sources import local_path, read_bytes

    uri = ws.ledger.scalar("SELECT uri FROM images WHERE file_name LIKE 'caf%'")
    assert os.fsencode(local_path(uri)) == odd and read_bytes(uri) == jpeg_bytes(1)
    again = beauty("-w", str(ws.root), "images", "add", str(folder))
    assert "2 already registered" in again.stdout


def test_a_file_over_the_size_cap_is_skipped_unread(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "good.jpg").write_bytes(jpeg_bytes(1))
    with open(folder / "huge.jpg", "wb") as handle:
        handle.truncate(3 * 1024**2)  # sparse: takes no disk
    read: list[str] = []
    import infra.sources as sources

    real = sources.read_capped

    def spy(path: Path, max_bytes: int) -> bytes:
        read.append(Path(path).name)
        return real(path, max_bytes)

    monkeypatch.setattr(sources, "read_capped", spy)
    (ws.root / "beauty.toml").write_text("[images]\nmax_bytes = 1048576\n")
    out = beauty("-w", str(ws.root), "images", "add", str(folder))
    assert out.code == 0
    assert "huge.jpg" in out.stderr and "images.max_bytes" in out.stderr
    assert read == ["good.jpg"], "a file over the cap was read"


def test_an_unreadable_sub_folder_is_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = Workspace.init(tmp_path / "ws")
    folder = tmp_path / "photos"
    (folder / "locked").mkdir(parents=True)
    (folder / "good.jpg").write_bytes(jpeg_bytes(1))
    (folder / "locked" / "hidden.jpg").write_bytes(jpeg_bytes(2))
    real = os.scandir

    def scandir(path: str | os.PathLike[str] = ".") -> object:
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    out = beauty("-w", str(ws.root), "images", "add", str(folder))
    assert out.code == 0
    assert "locked" in out.stderr and "not readable" in out.stderr


def test_an_unresolvable_label_host_is_one_line(ws: Workspace) -> None:
    out = beauty(
        "-w",
        str(ws.root),
        "label",
        "serve",
        "--host",
        "no-such-host.invalid",
        env={"BEAUTY_LABEL__ACCESS_CODE": "a-long-access-code"},
    )
    assert_one_line(out, "no-such-host.invalid")


def test_a_name_too_long_for_the_file_system_is_one_line(ws: Workspace, tmp_path: Path) -> None:
    path = tmp_path / ("v" * 300 + ".csv")
    out = beauty("-w", str(ws.root), "votes", "export", str(path))
    assert_one_line(out, "shorter")
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


FORMULAS = ['=HYPERLINK("http://x","y")', "+cmd|' /C calc'!A0", "@SUM(1+1)", "-2+3", "\tx"]


def test_exported_votes_and_worker_report_carry_no_formula(ws: Workspace, tmp_path: Path) -> None:
    votes = tmp_path / "votes.csv"
    pd.DataFrame(
        {
            "worker": FORMULAS,
            "left": ["photo00.jpg"] * 5,
            "right": ["photo01.jpg"] * 5,
            "label": ["photo00.jpg"] * 5,
        }
    ).to_csv(votes, index=False)
    assert beauty("-w", str(ws.root), "votes", "import", str(votes)).code == 0
    out = tmp_path / "out.csv"
    assert beauty("-w", str(ws.root), "votes", "export", str(out), "--raw-workers").code == 0
    exported = pd.read_csv(out, dtype=str, keep_default_na=False)
    assert sorted(exported["worker"]) == sorted("'" + f for f in FORMULAS)
    report = beauty("-w", str(ws.root), "workers", "report", "--no-html")
    assert report.code == 0, report.stderr
    cells = pd.read_csv(ws.reports_dir / "workers.csv", dtype=str, keep_default_na=False)
    for cell in cells.to_numpy().ravel():
        assert not str(cell).startswith(("=", "+", "@", "\t", "\r")), cell
        assert not (str(cell).startswith("-") and not _number(str(cell))), cell


def _number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def test_a_second_demo_into_the_same_folder_says_what_to_do(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    root.mkdir()
    (root / ".beauty-demo").write_text("earlier demo")
    (root / "beauty.db").write_text("")
    assert_one_line(beauty("demo", str(root), "--quick"), "--fresh")
    other = tmp_path / "mine"
    other.mkdir()
    (other / "notes.txt").write_text("keep me")
    assert_one_line(beauty("demo", str(other), "--quick", "--fresh"), "not empty")
    assert (other / "notes.txt").exists(), "--fresh removed a folder that was not a demo's"


def test_sqlite_damage_is_told_apart_from_other_errors() -> None:
    assert ledger_module.is_damage(sqlite3.DatabaseError("database disk image is malformed"))
    assert not ledger_module.is_damage(sqlite3.OperationalError("database is locked"))


def test_a_file_replaced_after_registration_is_not_read_as_the_image(ws: Workspace) -> None:
    from infra.sources import ChangedFile, local_path, read_verified

    row = ws.ledger.one("SELECT id, uri FROM images ORDER BY file_name LIMIT 1")
    assert row is not None
    assert read_verified(row["uri"], row["id"])  # unchanged: its bytes
    local_path(row["uri"]).write_text("now a text file")
    with pytest.raises(ChangedFile, match="changed since it was registered"):
        read_verified(row["uri"], row["id"])
