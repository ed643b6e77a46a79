"""Every command and every option of `beauty` explains itself in plain words."""

from __future__ import annotations

import re
from collections.abc import Iterator

import click
from click.testing import CliRunner

from beauty.cli import cli

# A help text says what the option does in words, not only which setting it is: "[hits] design"
# alone tells a newcomer nothing.
MIN_WORDS = 3


def commands(group: click.Command, path: str = "beauty") -> Iterator[tuple[str, click.Command]]:
    yield path, group
    if isinstance(group, click.Group):
        for name, command in sorted(group.commands.items()):
            yield from commands(command, f"{path} {name}")


def plain_words(text: str) -> int:
    without_brackets = re.sub(r"\[[^\]]*\]", " ", text)
    return len(re.findall(r"[A-Za-z]{2,}", without_brackets))


def test_every_command_and_option_has_help_in_plain_words() -> None:
    missing = []
    for path, command in commands(cli):
        if not (command.help or command.short_help):
            missing.append(f"{path}: the command has no help")
        for param in command.params:
            if not isinstance(param, click.Option) or param.hidden:
                continue
            name = "/".join(param.opts)
            if not param.help:
                missing.append(f"{path} {name}: no help")
            elif plain_words(param.help) < MIN_WORDS:
                missing.append(f"{path} {name}: help {param.help!r} says too little")
    assert not missing, "options or commands without plain help:\n" + "\n".join(missing)


def test_walk_reaches_nested_commands() -> None:
    # The walk must see groups inside groups, or the test above would pass on a tree it never saw.
    paths = {path for path, _ in commands(cli)}
    assert "beauty hits qualification build" in paths, sorted(paths)
    assert "beauty crowd simulate" in paths, sorted(paths)


def test_help_shows_defaults_of_demo_and_plan() -> None:
    runner = CliRunner()
    for args, expected in [
        (["demo", "--help"], "default: 200"),
        (["plan", "--help"], "default: 30"),
        (["hits", "plan", "--help"], "screens"),
    ]:
        result = runner.invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert expected in result.output, f"{' '.join(args)} lacks {expected!r}:\n{result.output}"
