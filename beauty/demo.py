"""`beauty demo`: the whole loop on the embedded defaults, with no AWS account.

Each step calls the same Python API as the command printed beside it, so the demo doubles as a
walkthrough of the commands; later steps read what earlier ones wrote to the workspace.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from beauty.images import generate_sample
from infra import gallery
from infra.errors import BeautyError
from infra.text import display_name
from infra.workspace import Workspace

DEMO_MARK = ".beauty-demo"  # the demo's own folders carry it; --fresh removes only those


def quiet(line: str) -> None:
    """Progress sink for steps that print their own summary."""


@contextmanager
def step(command: str) -> Iterator[None]:
    click.secho(f"\n$ beauty {command}", bold=True)
    started = time.monotonic()
    yield
    click.echo(f"  ({time.monotonic() - started:.1f} s)")


@click.command("demo")
@click.argument("directory", default="demo-workspace", type=click.Path(file_okay=False))
@click.option("--count", default=200, show_default=True, type=click.IntRange(8))
@click.option("--seed", default=7, show_default=True, type=click.IntRange(0))
@click.option(
    "--holdout",
    default=1000,
    show_default=True,
    type=click.IntRange(20),
    help="Panoramas of another seed the model is evaluated on.",
)
@click.option("--quick", is_flag=True, help="A small, fast run (used by the tests).")
@click.option(
    "--fresh", is_flag=True, help="Replace an earlier demo in DIRECTORY (only a demo's folder)."
)
def demo_command(
    directory: str, count: int, seed: int, holdout: int, quick: bool, fresh: bool
) -> None:
    """Run the main job in DIRECTORY: a sample gallery, a crowd campaign, scores, a model.

    DIRECTORY must be new or empty: a second run into the same workspace would add its
    batches to the first run's. `--fresh` removes an earlier demo there first (a folder the
    demo made, never another one).
    """
    root = Path(directory).resolve()
    prepare_folder(root, fresh=fresh)
    run_demo(
        root,
        count=min(count, 40) if quick else count,
        seed=seed,
        quick=quick,
        holdout=min(holdout, 40) if quick else holdout,
    )


def prepare_folder(root: Path, *, fresh: bool) -> None:
    """Make sure the demo starts from nothing: refuse a used folder, or clear an earlier demo."""
    if not root.exists():
        return
    if not root.is_dir():
        raise BeautyError(f"{display_name(str(root))} is a file: choose a folder for the demo")
    if not any(root.iterdir()):
        return
    shown = display_name(str(root))
    if not (root / DEMO_MARK).exists():
        raise BeautyError(
            f"{shown} is not empty and holds no earlier demo: choose a new folder for the demo"
        )
    if not fresh:
        raise BeautyError(
            f"{shown} holds an earlier demo: pass --fresh to replace it (or `make clean`), or "
            "choose another folder"
        )
    shutil.rmtree(root)


def run_demo(
    root: Path, *, count: int, seed: int, quick: bool = False, holdout: int = 1000
) -> None:
    from crowd import markets
    from crowd.batches import BatchSpec, list_hits, plan_batch
    from crowd.decisions import review
    from crowd.gold_items import make_gold
    from crowd.local.simulate import simulate_crowd
    from crowd.page import preview_hit
    from crowd.rank import kendall_vs_truth, rank_workspace
    from crowd.report import (
        confusion,
        confusion_lines,
        simulated_kinds,
        worker_outcomes,
        worker_report,
    )
    from scoring.albums import curate
    from scoring.gallery import score_gallery
    from scoring.similar import similar
    from training.backbones.mobilenet_v2_weights import cached_weights
    from training.evaluate import evaluate
    from training.run import train

    ws = Workspace.init(root)
    (root / DEMO_MARK).write_text("made by `beauty demo`; `beauty demo --fresh` may replace it\n")
    images = root / "gallery"
    truth_csv = images / "truth.csv"
    w = f"-w {root} "

    with step(f"init {root}"):
        click.echo(f"  workspace {ws.root} (settings in beauty.toml, ledger beauty.db)")

    with step(f"images sample {images} --count {count} --seed {seed}"):
        truth = generate_sample(images, count, seed)
        click.echo(f"  {len(truth)} panoramas; their hidden beauty is in {truth_csv}")

    with step(f"{w}images add {images}"):
        report = gallery.add_images(ws, str(images))
        click.echo(f"  {report.added} registered, {len(report.skipped)} skipped")

    gold_count = max(4, count // 10)
    with step(f"{w}gold make --count {gold_count}"):
        made = make_gold(ws, gold_count, seed=seed)
        click.echo(
            f"  {made.variants} degraded variants -> {made.pair_items} pair and "
            f"{made.fourup_items} 4-up gold items ({made.qualification} kept for a "
            "qualification test)"
        )

    with step(f"{w}hits plan --design fourup --appearances 6 --market local"):
        spec = BatchSpec.from_settings(
            ws.settings, design="fourup", market="local", appearances=6, seed=seed
        )
        plan = plan_batch(ws, spec)
        click.echo(
            f"  batch {plan.batch_id}: {plan.hits} HITs, {plan.screens} screens "
            f"({plan.gold_screens} gold), ~{plan.minutes_per_hit:.1f} min per HIT; elsewhere "
            + ", ".join(
                f"on {markets.get(name).label} ${cost:.2f} with fees"
                for name, cost in plan.costs.items()
                if name != plan.market
            )
        )

    first_hit = list_hits(ws.ledger, plan.batch_id)[0]["id"]
    with step(f"{w}hits preview {first_hit}"):
        page = preview_hit(ws, first_hit, ws.previews_dir / f"hit-{first_hit}")
        click.echo(f"  open {page} in a browser")

    def collect(before: float | None = None) -> tuple[float, Path]:
        """The simulated crowd works the open batches, review decides on what they did, and
        rank fits every vote so far; returns Kendall's tau against the hidden truth and the
        scores table."""
        with step(f"{w}crowd simulate --workers 30 --spammers 0.2 --truth {truth_csv}"):
            sim = simulate_crowd(ws, 30, 0.2, truth_path=truth_csv, seed=seed)
            kinds = ", ".join(f"{n} by {k}" for k, n in sorted(sim.submissions_by_kind.items()))
            click.echo(
                f"  {sim.submissions} assignments submitted over {sim.url} in {sim.seconds:.1f} s "
                f"({kinds})"
            )
        with step(f"{w}hits review"):
            verdicts = review(ws).verdicts
            flagged = {v.worker_id: v for v in verdicts if v.flagged}  # one line per worker
            click.echo(f"  {len(verdicts)} assignments decided; flagged workers: {len(flagged)}")
            for worker, v in sorted(flagged.items()):
                action = v.action + (" + exclude" if v.exclude else "")
                click.echo(f"    {worker}: {action}: {v.reason}")
            click.echo("  review against the simulated crowd's true kinds (workers):")
            table = confusion(worker_outcomes(ws.ledger), simulated_kinds(ws))
            for line in confusion_lines(table):
                click.echo(f"    {line}")
        with step(f"{w}rank --truth {truth_csv}"):
            fit, paths = rank_workspace(ws)
            tau = kendall_vs_truth(ws, fit.table, truth_csv)
            earlier = "" if before is None else f" (after the first batch {before:.3f})"
            click.echo(
                f"  {len(fit.table)} images from {fit.votes} votes; "
                f"Kendall tau vs truth {tau:.3f}{earlier}"
            )
            for row in fit.table.head(10).to_dict("records"):
                name = Path(str(row["uri"])).name
                click.echo(
                    f"    #{row['rank']:<3} {name}  score {row['score']:+.2f} ± {row['se']:.2f}"
                )
            click.echo(f"  written {paths[0]}")
        return tau, paths[0]

    first_tau, _ = collect()

    # A second, active batch: 4-up screens of photos with like scores, offered to the half of
    # the crowd whose answers the fit trusts most.
    with step(f"{w}hits plan --design fourup --appearances 3 --active --trusted 0.5"):
        spec = BatchSpec.from_settings(
            ws.settings,
            design="fourup",
            market="local",
            appearances=3,
            active=True,
            trusted=0.5,
            seed=seed + 1,
        )
        plan = plan_batch(ws, spec)
        click.echo(
            f"  batch {plan.batch_id}: {plan.hits} HITs, {plan.screens} screens, "
            f"offered to the {plan.workers} most reliable workers"
        )

    _, scores_table = collect(first_tau)

    with step(f"{w}workers report"):
        qa = worker_report(ws)
        click.echo(f"  {len(qa.table)} workers; open {qa.html}")

    # Real ImageNet features where `beauty weights fetch` (run by `make demo`) has cached them.
    weights = "imagenet" if cached_weights() else "none"
    # Panorama-shaped inputs (the sample's 1820x237 is 7.7:1): nothing is stretched.
    size, epochs = ("32x246", 1) if quick else ("96x736", 4)
    folds = 0 if quick else 3
    with step(
        f"{w}train --backbone mobilenetv2 --weights {weights} --input-size {size} "
        f"--epochs {epochs} --folds {folds} --name demo"
    ):
        if weights == "none":
            click.echo("  no pretrained weights cached (run `beauty weights fetch`): random init")
        run = train(
            ws,
            name="demo",
            backbone="mobilenetv2",
            weights=weights,
            input_size=size,
            epochs=epochs,
            folds=folds,
            bootstrap=200,
            progress=lambda line: click.echo(f"  {line}"),
        )

    # Held out for real: a second gallery of another seed the crowd and the model never saw,
    # large enough that its top 5% is 50 photos or more.
    held_dir, held_seed = root / "held-out", seed + 1000
    with step(f"images sample {held_dir} --count {holdout} --seed {held_seed}"):
        generate_sample(held_dir, holdout, held_seed)
        click.echo(f"  {holdout} more panoramas; their hidden beauty is in {held_dir}/truth.csv")

    with step(f"{w}evaluate runs/demo --gallery {held_dir} --truth {held_dir}/truth.csv"):
        ev = evaluate(
            run.run_dir, held_dir / "truth.csv", gallery=held_dir, bootstrap=200, progress=quiet
        )
        m = ev.metrics
        click.echo(
            f"  {ev.images} held-out photos vs the hidden truth: Kendall tau "
            f"{m['kendall']['value']:.2f}, Spearman {m['spearman']['value']:.2f} "
            f"(the probe {m['probe_spearman']['value']:.2f}; model minus probe "
            f"{m['diff_spearman']['value']:+.2f} [{m['diff_spearman']['low']:+.2f}, "
            f"{m['diff_spearman']['high']:+.2f}])"
        )
        click.echo(
            f"  a photographer keeping every one of the top 5% skips "
            f"{m['reduction_100']['value']:.0%} of the gallery "
            f"(95% CI {m['reduction_100']['low']:.0%}-{m['reduction_100']['high']:.0%}); "
            f"keeping 95% of them, {m['reduction_95']['value']:.0%}"
        )
        click.echo(f"  report {ev.report_path}")

    with step(f"{w}score --model demo"):
        scored = score_gallery(run.run_dir, workspace=ws, progress=quiet)
        click.echo(
            f"  {len(scored.table)} photos scored at {scored.images_per_second:.0f} img/s "
            f"-> {scored.files.table}"
        )

    album_dir = root / "album"
    with step(f"{w}curate --model demo --top 5% --out {album_dir} --xmp"):
        album = curate(run.run_dir, album_dir, top=0.05, workspace=ws, xmp=True, progress=quiet)
        click.echo(
            f"  {len(album.photos)} of {album.gallery_images} photos in the album, "
            f"{album.xmp_written} XMP sidecars; contact sheet {album.sheet_html}"
        )

    best = str(album.photos["image"].iloc[0])
    with step(f"{w}similar {best} --model demo --k 6"):
        found = similar(run.run_dir, best, k=6, workspace=ws, progress=quiet)
        names = ", ".join(Path(str(u)).name for u in found.photos["uri"].iloc[1:])
        click.echo(f"  nearest to the best photo: {names}")
        click.echo(f"  contact sheet {found.sheet_html}")

    click.secho("\nDone.", bold=True)
    click.echo(f"  workspace   {ws.root}")
    click.echo(f"  scores      {scores_table}")
    click.echo(f"  QA report   {qa.html}")
    click.echo(f"  model       {run.run_dir}  (evaluation: {ev.report_path})")
    click.echo(f"  album       {album.sheet_html}")
    click.echo(
        f"  label yourself: beauty {w}hits plan; beauty {w}label serve  (http://127.0.0.1:8765)"
    )
