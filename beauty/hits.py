"""`beauty hits`: plan batches of HITs, list them, preview a HIT's page; the qualification test."""

from __future__ import annotations

import json
from dataclasses import asdict
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import click
from pydantic import ValidationError

from beauty.common import emit, json_option, workspace
from beauty.market import (
    close_command,
    delete_command,
    post_command,
    qualification_post_command,
    status_command,
    sync_command,
)
from beauty.review import review_command
from crowd import markets
from crowd.batches import BatchSpec, list_batches, list_hits, plan_batch
from crowd.page import preview_hit
from infra.errors import BeautyError
from mturk.qualification import build_qualification, public_image_url


class Dollars(click.ParamType):
    """A non-negative amount of dollars in whole cents, such as 0.10."""

    name = "dollars"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        try:
            amount = Decimal(str(value).lstrip("$"))
        except InvalidOperation:
            self.fail(f"{value!r} is not an amount of dollars such as 0.10", param, ctx)
        if not amount.is_finite() or amount < 0 or amount != amount.quantize(Decimal("0.01")):
            self.fail(f"{value!r} is not a non-negative amount in whole cents", param, ctx)
        return amount


@click.group("hits")
def hits_group() -> None:
    """Plan batches of HITs, list them, preview their pages; build the qualification test."""


@hits_group.command("plan")
@click.option(
    "--design",
    type=click.Choice(["fourup", "pairwise"]),
    help="Screens of four photos to keep or drop, or pairs to choose between; overrides "
    "[hits] design [default: fourup].",
)
@click.option(
    "--screens-per-hit",
    type=click.IntRange(1, 50),
    help="Screens in one HIT, gold included; overrides [hits] screens_per_hit [default: 10].",
)
@click.option(
    "--assignments",
    type=click.IntRange(1),
    help="Workers who answer each HIT; overrides [hits] assignments [default: 3].",
)
@click.option(
    "--reward",
    type=Dollars(),
    help="Dollars paid per assignment; overrides [hits] reward [default: 0.10].",
)
@click.option(
    "--market",
    type=click.Choice(markets.names()),
    help="Where workers answer: the local labeling server or MTurk; overrides [hits] market "
    "[default: local].",
)
@click.option("--hits", "n_hits", type=click.IntRange(1), help="Plan exactly N HITs.")
@click.option(
    "--appearances",
    type=click.IntRange(1),
    help="Times each image is shown, which sizes the batch; overrides [hits] appearances "
    "[default: 4].",
)
@click.option(
    "--gold-rate",
    type=click.FloatRange(0, 1, max_open=True),
    help="Share of screens that are gold (at least one a HIT); overrides [hits] gold_rate "
    "[default: 0.2].",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed of which photos share a screen and where gold goes.",
)
@click.option(
    "--active",
    is_flag=True,
    help="Pairs: the most informative pairs under a crowd model calibrated on the votes so far "
    "(random pairs when it predicts no gain). 4-up: photos of like scores (needs `beauty rank`).",
)
@click.option(
    "--focus",
    type=click.IntRange(1),
    help="With --active pairs: order the top K photos first (default: the whole ranking).",
)
@click.option(
    "--crowd-model",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="With --active pairs: plan with this crowd model (`beauty plan --save-crowd`) instead "
    "of calibrating on the workspace's votes.",
)
@click.option(
    "--trusted",
    type=click.FloatRange(0, 1, min_open=True),
    help="Offer the batch only to this share of the market's workers, the most reliable by "
    "the last `beauty rank` (e.g. 0.5).",
)
@click.option(
    "--masters/--no-masters",
    default=None,
    help="Masters workers only on MTurk; overrides [mturk] masters [default: no].",
)
@json_option
def plan(
    design: str | None,
    screens_per_hit: int | None,
    assignments: int | None,
    reward: Decimal | None,
    market: str | None,
    n_hits: int | None,
    appearances: int | None,
    gold_rate: float | None,
    seed: int,
    active: bool,
    focus: int | None,
    crowd_model: Path | None,
    trusted: float | None,
    masters: bool | None,
    as_json: bool,
) -> None:
    """Plan a batch of HITs from the registered gallery, gold mixed in.

    By default enough HITs for every image to appear --appearances times; --hits N plans N.
    Prints the HIT count, the expected cost with MTurk's fee and the minutes a HIT takes.
    """
    if n_hits is not None and appearances is not None:
        raise click.UsageError("give --hits or --appearances, not both")
    ws = workspace()
    try:
        spec = BatchSpec.from_settings(
            ws.settings,
            design=design,
            screens_per_hit=screens_per_hit,
            assignments=assignments,
            reward=reward,
            market=market,
            hits=n_hits,
            appearances=appearances,
            gold_rate=gold_rate,
            seed=seed,
            active=active,
            focus=focus,
            crowd_model=crowd_model,
            trusted=trusted,
            masters=masters,
        )
    except ValidationError as exc:
        err = exc.errors()[0]
        raise BeautyError(f"hits plan: {err['msg']}") from None
    result = plan_batch(ws, spec)
    if as_json:
        emit([asdict(result)], True, [])
        return
    seconds = ws.settings.hits.seconds_per_screen
    click.echo(
        f"batch {result.batch_id} ({result.market}, {spec.design}): {result.hits} HITs, "
        f"{result.screens} screens ({result.gold_screens} gold) over {result.images} images"
    )
    chosen = markets.get(result.market)
    elsewhere = ", ".join(
        f"on {markets.get(name).label} ${cost:.2f}"
        for name, cost in result.costs.items()
        if name != result.market
    )
    fee = "rewards and fee" if chosen.charges_fee else "in rewards, no fee"
    click.echo(f"  expected cost    ${result.cost:.2f} {fee} ({elsewhere})")
    click.echo(f"  minutes per HIT  {result.minutes_per_hit:.1f} (at {seconds:g} s a screen)")
    if result.workers is not None:
        click.echo(f"  offered to       {result.workers} most reliable {result.market} workers")
    for note in result.notes:
        click.echo(f"  {note}")


@hits_group.command("list")
@click.option("--batch", "batch_id", type=int, help="List this batch's HITs instead of batches.")
@json_option
def list_(batch_id: int | None, as_json: bool) -> None:
    """List batches, or the HITs of one batch (--batch N)."""
    ledger = workspace().ledger
    if batch_id is None:
        rows = list_batches(ledger)
        columns = ["id", "market", "design", "state", "hits", "posted", "screens"]
        columns += ["gold_screens", "assignments", "offered_to", "reward", "cost", "submitted"]
        columns += ["created_at"]
        emit(rows, as_json, columns)
        return
    rows = list_hits(ledger, batch_id)
    if not rows and not as_json:
        raise BeautyError(f"batch {batch_id} has no HITs: see `beauty hits list` for batches")
    columns = ["id", "position", "post_state", "screens", "gold_screens", "submitted"]
    emit(rows, as_json, [*columns, "remote_id", "expires_at"])


@hits_group.command("preview")
@click.argument("hit_id", type=int)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for page.html and its images (default: previews/hit-ID in the workspace).",
)
def preview(hit_id: int, out: Path | None) -> None:
    """Write HIT_ID's page and its images (named by their tokens) to open offline."""
    ws = workspace()
    page = preview_hit(ws, hit_id, out or ws.previews_dir / f"hit-{hit_id}")
    click.echo(f"open {page}")


@hits_group.group("qualification")
def qualification_group() -> None:
    """The qualification test built from the qualification pool's gold."""


@qualification_group.command("build")
@click.option(
    "--base-url",
    required=True,
    help="Public http(s) prefix where `beauty images push` put the images (bucket or CDN).",
)
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the XML (default: reports/qualification in the workspace).",
)
@click.option(
    "--kind",
    type=click.Choice(["pair", "fourup"]),
    default="pair",
    show_default=True,
    help="Questions as pairs or as 4-up screens.",
)
@click.option(
    "--questions",
    default=10,
    show_default=True,
    type=click.IntRange(1),
    help="Questions in the test.",
)
@click.option(
    "--passing-score",
    default=80,
    show_default=True,
    type=click.IntRange(0, 100),
    help="Percent of questions right to pass.",
)
@click.option(
    "--duration",
    default=600,
    show_default=True,
    type=click.IntRange(30),
    help="Seconds a worker has to take the test.",
)
@click.option(
    "--seed",
    default=0,
    show_default=True,
    type=int,
    help="Seed of which gold items become questions.",
)
def build(
    base_url: str,
    out: Path | None,
    kind: str,
    questions: int,
    passing_score: int,
    duration: int,
    seed: int,
) -> None:
    """Write the test's QuestionForm and AnswerKey XML, checked against MTurk's rules."""
    ws = workspace()
    test = build_qualification(
        ws,
        image_url=public_image_url(ws, base_url),
        kind="pair" if kind == "pair" else "fourup",
        questions=questions,
        passing_score=passing_score,
        test_duration=duration,
        seed=seed,
    )
    folder = out or ws.reports_dir / "qualification"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "question_form.xml").write_text(test.question_form_xml, encoding="utf-8")
    (folder / "answer_key.xml").write_text(test.answer_key_xml, encoding="utf-8")
    record = {
        "test_duration": test.test_duration,
        "passing_score": test.passing_score,
        "gold_ids": test.gold_ids,
    }
    (folder / "qualification.json").write_text(json.dumps(record, indent=1), encoding="utf-8")
    click.echo(
        f"{len(test.gold_ids)} questions, pass at {test.passing_score}%, "
        f"{test.test_duration} s: {folder}"
    )


hits_group.add_command(post_command)
hits_group.add_command(status_command)
hits_group.add_command(sync_command)
hits_group.add_command(close_command)
hits_group.add_command(close_command, name="expire")  # MTurk's word for closing
hits_group.add_command(delete_command)
hits_group.add_command(review_command)
qualification_group.add_command(qualification_post_command)
