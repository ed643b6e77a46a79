"""The README's first-run tour runs as written: its code block is parsed from README.md, so the
README and this test cannot drift apart."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from click.testing import CliRunner

from beauty.cli import cli

README = Path(__file__).resolve().parents[2] / "README.md"
MARK = "<!-- the tour:"


def tour_commands() -> list[list[str]]:
    """The shell commands of the code block after the tour's mark, split on `&&`."""
    text = README.read_text(encoding="utf-8")
    start = text.index(MARK)
    block = re.search(r"```sh\n(.*?)```", text[start:], re.S)
    assert block is not None, "README.md: no ```sh block after the tour's mark"
    commands = []
    for line in block.group(1).replace("\\\n", " ").splitlines():
        words = shlex.split(line, comments=True)
        while words:
            cut = words.index("&&") if "&&" in words else len(words)
            commands.append(words[:cut])
            words = words[cut + 1 :]
    return commands


def test_the_tour_is_found_and_adds_what_it_samples() -> None:
    commands = [" ".join(c) for c in tour_commands()]
    assert commands[0].startswith("beauty init"), commands
    sample = next(i for i, c in enumerate(commands) if c.startswith("beauty images sample"))
    folder = commands[sample].split()[3]
    added = [i for i, c in enumerate(commands) if c == f"beauty images add {folder}"]
    assert added and added[0] > sample, f"the tour never adds {folder}: {commands}"


@pytest.mark.slow
def test_the_readme_tour_runs_as_written(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BEAUTY_QUIET", "1")
    monkeypatch.delenv("BEAUTY_WORKSPACE", raising=False)
    runner = CliRunner()
    outputs = {}
    for words in tour_commands():
        if words[0] == "cd":
            monkeypatch.chdir(Path.cwd() / words[1])
            continue
        assert words[0] == "beauty", f"the tour runs only beauty and cd: {words}"
        result = runner.invoke(cli, words[1:])
        shown = " ".join(words)
        assert result.exit_code == 0, f"`{shown}` failed:\n{result.output}{result.exception!r}"
        outputs[" ".join(words[1:3])] = result.output
    # The summaries the demo prints too.
    assert "flagged workers:" in outputs["hits review"], outputs["hits review"]
    assert "workers by kind:" in outputs["crowd simulate"], outputs["crowd simulate"]
    assert "a photographer keeping every one of the top 5%" in outputs["evaluate runs/first"]
    assert (Path.cwd() / "best" / "contact-sheet.html").is_file()
