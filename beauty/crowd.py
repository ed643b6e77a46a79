"""`beauty crowd`: simulated crowds that work the local market like people do."""

from __future__ import annotations

from pathlib import Path

import click

from beauty.common import emit, json_option, workspace
from beauty.label import access_code_file_option
from beauty.summaries import simulation_summary
from crowd.local.codes import read_code_file


@click.group("crowd")
def crowd_group() -> None:
    """Simulated crowds, for demos and for planning a campaign."""


@crowd_group.command("simulate")
@click.option(
    "--workers",
    default=30,
    show_default=True,
    type=click.IntRange(1, 500),
    help="How many simulated workers take HITs, spammers included.",
)
@click.option(
    "--spammers",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Fraction of spammers: random, always-left, select-all, select-none, fast and "
    "half-effort workers.",
)
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV of image, beauty that honest workers perceive (the sample gallery's truth.csv).",
)
@click.option(
    "--replay",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV of recorded votes (worker, left, right, label) that honest workers replay.",
)
@click.option("--url", help="A running labeling server (default: one started for this run).")
@access_code_file_option
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed of the workers' kinds, skills and answers.",
)
@json_option
def simulate(
    workers: int,
    spammers: float,
    truth: Path | None,
    replay: Path | None,
    url: str | None,
    access_code_file: Path | None,
    seed: int,
    as_json: bool,
) -> None:
    """Let a simulated crowd work every open local HIT's assignments through the server's
    JSON API.

    A server at --url with an access code needs it: BEAUTY_LABEL__ACCESS_CODE or
    --access-code-file.
    """
    from crowd.local.simulate import simulate_crowd  # numpy and the crowd models load only here

    code = read_code_file(access_code_file) if access_code_file else None
    report = simulate_crowd(
        workspace(), workers, spammers, truth_path=truth, replay_path=replay, url=url,
        seed=seed, access_code=code,
    )  # fmt: skip
    if as_json:
        emit(report.rows(), True, ["kind", "workers", "assignments"])
        return
    for line in simulation_summary(report):
        click.echo(line)
