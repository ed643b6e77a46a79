"""Running the command line on bad input: it succeeds, or says one line and exits 1."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from click.testing import CliRunner

from beauty.cli import cli


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str


def beauty(*args: str, env: dict[str, str] | None = None) -> Outcome:
    """Run ``beauty ARGS`` in-process; a traceback (any escaping exception) fails the test."""
    result = CliRunner().invoke(cli, list(args), env=env)
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(
            f"`beauty {' '.join(args)}` raised {result.exception!r} instead of one line"
        ) from result.exception
    return Outcome(result.exit_code, result.stdout, result.stderr)


def assert_one_line(out: Outcome, *expected: str, command: Sequence[str] = ()) -> None:
    """Exit 1 with one line on stderr that says each of ``expected``."""
    assert out.code == 1, f"{' '.join(command)} exited {out.code}: {out.stdout}{out.stderr}"
    lines = [ln for ln in out.stderr.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("error: ")]
    assert len(errors) == 1, f"want one error line, got: {out.stderr!r}"
    for text in expected:
        assert text in errors[0], f"{text!r} not in {errors[0]!r}"


def ok_or_one_line(out: Outcome) -> None:
    """Succeeded, or failed with exit 1 and exactly one error line (and nothing else on stderr
    but warnings and skip lines)."""
    if out.code == 0:
        return
    assert out.code == 1, f"exit {out.code}: {out.stderr!r}"
    errors = [ln for ln in out.stderr.splitlines() if ln.startswith("error: ")]
    assert len(errors) == 1, f"want one error line, got: {out.stderr!r}"
    assert "Traceback" not in out.stderr
