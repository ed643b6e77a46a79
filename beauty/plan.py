"""`beauty plan`: what a target ranking quality costs, simulated before money is spent.

``--calibrate votes.csv`` fits the realistic crowd model (:mod:`ranking.realistic`) to one's own
recorded votes and prints it (``--save-crowd FILE`` keeps it for ``--crowd-model FILE``);
``--replay votes.csv`` replays the recorded campaign, each pair's answers drawn without
replacement, to compare random with active pairs round by round.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import click

from beauty.common import emit, json_option, workspace
from crowd.budget import (
    calibrate_crowd,
    plan_campaign,
    read_crowd_model,
    replay_designs,
    write_crowd_model,
)
from ranking.headroom import headroom
from ranking.planning import DesignSpec
from ranking.realistic import CrowdNoise


@click.command("plan")
@click.option(
    "--design",
    "designs",
    multiple=True,
    default=["fourup", "pairwise", "fourup-active"],
    show_default=True,
    type=click.Choice(["fourup", "pairwise", "fourup-active", "pairwise-active"]),
    help="Designs to compare (repeat the option): 4-up or pairs, random or active.",
)
@click.option(
    "--budget",
    "budgets",
    multiple=True,
    type=click.FloatRange(0.01),
    default=[10.0, 25.0, 50.0],
    show_default=True,
    help="Budgets in dollars, MTurk fees included (repeat the option).",
)
@click.option(
    "--assignments",
    default=3,
    show_default=True,
    type=click.IntRange(1),
    help="Workers who answer each simulated HIT (as [hits] assignments).",
)
@click.option(
    "--reward",
    default="0.10",
    show_default=True,
    help="Dollars paid per assignment, before MTurk's fee (as [hits] reward).",
)
@click.option(
    "--gold-rate",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 0.9),
    help="Share of screens that are gold (as [hits] gold_rate).",
)
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV of image, beauty that the simulated crowd perceives and tau is measured against "
    "(e.g. the sample gallery's truth.csv); a budget plan needs it or --replay.",
)
@click.option(
    "--replay",
    type=click.Path(dir_okay=False, path_type=Path),
    help="votes.csv: replay this recorded campaign (random against active pairs, by round).",
)
@click.option(
    "--replay-fill",
    type=click.Choice(["none", "fit"]),
    default="none",
    show_default=True,
    help="A replayed pair whose recorded answers are used up: 'none' cannot be asked again; "
    "'fit' answers from a Bradley-Terry fit of all recorded votes.",
)
@click.option(
    "--method",
    default="bt",
    show_default=True,
    type=click.Choice(["bt", "thurstone"]),
    help="How a --replay's rounds are fitted and scored: Bradley-Terry, or Thurstone under "
    "the calibrated crowd (as `beauty rank --method thurstone`).",
)
@click.option(
    "--calibrate",
    "calibrate_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="votes.csv: fit the crowd model to these votes, print it and plan with it.",
)
@click.option(
    "--crowd-model",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A crowd model saved by --save-crowd, to plan with [default: a Bradley-Terry crowd "
    "with --spammers].",
)
@click.option(
    "--save-crowd",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the fitted crowd model to this JSON file; an existing file is replaced.",
)
@click.option(
    "--focus",
    type=click.Choice(["all", "top"]),
    default="all",
    show_default=True,
    help="What active pairs should order first: the whole ranking or the top tier (--top).",
)
@click.option(
    "--top",
    default=20,
    show_default=True,
    type=click.IntRange(2),
    help="How many photos count as the top tier for --focus top and the tau_top column.",
)
@click.option(
    "--rounds",
    default=5,
    show_default=True,
    type=click.IntRange(2),
    help="Rounds of a --replay, each of --round-votes votes.",
)
@click.option(
    "--round-votes",
    default=500,
    show_default=True,
    type=click.IntRange(1),
    help="Votes asked in each round of a --replay.",
)
@click.option(
    "--workers",
    default=30,
    show_default=True,
    type=click.IntRange(1),
    help="Size of the simulated crowd, spammers included.",
)
@click.option(
    "--spammers",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1),
    help="Share of the simulated crowd that answers at random.",
)
@click.option(
    "--seeds",
    default=3,
    show_default=True,
    type=click.IntRange(1),
    help="Simulations per design and budget; tau_sd is their spread.",
)
@click.option(
    "--trusted",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Active designs offer each batch after the first to this share of the crowd, the "
    "most reliable so far (as `hits plan --trusted`).",
)
@click.option(
    "--out",
    "out_dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for plan.csv and plan.png (or replay.csv) [default: reports/ in the workspace]; "
    "an earlier plan there is replaced, and the output says so.",
)
@json_option
def plan_command(
    designs: tuple[str, ...],
    budgets: tuple[float, ...],
    assignments: int,
    reward: str,
    gold_rate: float,
    truth: Path | None,
    replay: Path | None,
    workers: int,
    spammers: float,
    seeds: int,
    trusted: float,
    replay_fill: str,
    method: str,
    calibrate_path: Path | None,
    crowd_model: Path | None,
    save_crowd: Path | None,
    focus: str,
    top: int,
    rounds: int,
    round_votes: int,
    out_dir: Path | None,
    as_json: bool,
) -> None:
    """Simulate designs against budgets: Kendall's tau for the money (table and chart).

    With --calibrate alone, fit the crowd model to recorded votes, print it and the most votes
    an active design could save on that crowd. With --replay, compare random and active pairs
    on the recorded campaign, round by round.
    """
    ws = workspace()
    noise: CrowdNoise | None = None
    if crowd_model is not None:
        noise = read_crowd_model(crowd_model)
    if calibrate_path is not None:
        fitted = calibrate_crowd(ws, calibrate_path)
        noise = fitted.noise
        rows = [{"parameter": k, "value": round(v, 4)} for k, v in noise.as_dict().items()]
        emit(rows, as_json, ["parameter", "value"])
        if not as_json:
            click.echo(
                f"calibrated on {fitted.votes} votes by {fitted.workers} workers over "
                f"{fitted.pairs} pairs ({fitted.repeated_pairs} asked more than once, "
                f"{fitted.tie_share:.1%} no preference)"
            )
            share = trusted if trusted < 1 else 0.3
            room = headroom(noise.scale * fitted.scores.to_numpy(), noise, share)
            click.echo(
                f"headroom on this crowd: a random pair's answer carries {room.random_share:.0%} "
                f"of the information of an answer at the most informative merit gap "
                f"({room.best_gap:.2f}), so "
                f"choosing pairs can save at most {room.pairs:.0%} of the votes random pairs "
                f"need; offering batches to the best {share:.0%} of workers at most "
                f"{room.routing:.0%}, both at most {room.both:.0%}"
            )
    if save_crowd is not None:
        if noise is None:
            raise click.UsageError("--save-crowd needs --calibrate or --crowd-model")
        replacing = " (replacing the earlier file)" if save_crowd.exists() else ""
        write_crowd_model(save_crowd, noise)
        if not as_json:
            click.echo(f"crowd model written to {save_crowd}{replacing}")
    if calibrate_path is not None and truth is None and replay is None:
        return
    if replay is not None:
        replayed = replay_designs(
            ws,
            replay,
            noise if noise is not None else calibrate_crowd(ws, replay).noise,
            [round_votes] * rounds,
            seeds=tuple(range(seeds)),
            focus=top if focus == "top" else None,
            fill=replay_fill,
            out_dir=out_dir,
            method=method,
        )
        columns = ["design", "round", "votes", "votes_per_photo", "tau_mean", "tau_sd"]
        if focus == "top":
            columns.append("tau_top")
        emit(replayed.table.to_dict("records"), as_json, [*columns, "active_share"])
        if not as_json:
            lost = ", ".join(f"{d} {n:.0f}" for d, n in replayed.unavailable.items())
            click.echo(
                f"tau against the full-data scores ({method}); asks with no recorded answer "
                f"left per run: {lost}; written {replayed.csv}{_replacing(replayed.replaced)}"
            )
        return
    specs = [
        DesignSpec(
            design="fourup" if d.startswith("fourup") else "pairwise",
            active=d.endswith("-active"),
            assignments=assignments,
            reward=Decimal(reward),
            gold_rate=gold_rate,
            screens_per_hit=ws.settings.hits.screens_per_hit,
            trusted=trusted if d.endswith("-active") else 1.0,
        )
        for d in designs
    ]
    result = plan_campaign(
        ws,
        specs,
        [Decimal(str(b)) for b in budgets],
        truth_path=truth,
        workers=workers,
        spammers=spammers,
        seeds=tuple(range(seeds)),
        noise=noise,
        out_dir=out_dir,
    )
    columns = ["design", "budget", "appearances", "hits", "cost", "tau_mean", "tau_sd"]
    emit(result.table.to_dict("records"), as_json, columns)
    if not as_json:
        click.echo(
            f"tau against {result.measure}; written {result.csv} and {result.png}"
            f"{_replacing(result.replaced)}"
        )


def _replacing(replaced: bool) -> str:
    # Plans are cheap to redo but a chart someone kept may be gone: say so, and how to keep it.
    return " (replacing the earlier one there; --out DIR keeps both)" if replaced else ""
