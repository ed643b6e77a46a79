"""`beauty plan`: what a target ranking quality costs, simulated before money is spent."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import click

from beauty.common import emit, json_option, workspace
from crowd.budget import plan_campaign
from ranking.planning import DesignSpec


@click.command("plan")
@click.option(
    "--design",
    "designs",
    multiple=True,
    default=["fourup", "pairwise", "fourup-active"],
    show_default=True,
    type=click.Choice(["fourup", "pairwise", "fourup-active", "pairwise-active"]),
    help="Designs to compare (repeat the option).",
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
@click.option("--assignments", default=3, show_default=True, type=click.IntRange(1))
@click.option("--reward", default="0.10", show_default=True, help="Dollars per assignment.")
@click.option("--gold-rate", default=0.2, show_default=True, type=click.FloatRange(0, 0.9))
@click.option("--truth", type=click.Path(dir_okay=False, path_type=Path), help="truth.csv")
@click.option("--replay", type=click.Path(dir_okay=False, path_type=Path), help="votes.csv")
@click.option("--workers", default=30, show_default=True, type=click.IntRange(1))
@click.option("--spammers", default=0.2, show_default=True, type=click.FloatRange(0, 1))
@click.option("--seeds", default=3, show_default=True, type=click.IntRange(1))
@click.option(
    "--trusted",
    default=1.0,
    show_default=True,
    type=click.FloatRange(0, 1, min_open=True),
    help="Active designs offer each batch after the first to this share of the crowd, the "
    "most reliable so far (as `hits plan --trusted`).",
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
    as_json: bool,
) -> None:
    """Simulate designs against budgets: Kendall's tau for the money (table and chart)."""
    ws = workspace()
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
        replay_path=replay,
        workers=workers,
        spammers=spammers,
        seeds=tuple(range(seeds)),
    )
    columns = ["design", "budget", "appearances", "hits", "cost", "tau_mean", "tau_sd"]
    emit(result.table.to_dict("records"), as_json, columns)
    if not as_json:
        click.echo(f"tau against {result.measure}; written {result.csv} and {result.png}")
